//! Second derivatives with graft: Hessian-vector products by differentiating a gradient
//! (`grad` with `create_graph`), checked against finite differences of the gradient; the
//! full Hessian from `autograd::functional::hessian` against the one built column by column
//! from `functional::hvp`; and Newton's method on the Rosenbrock function with the
//! gradient from `functional::vjp` and the Hessian's columns from `functional::jvp` of the
//! gradient.
//!
//! `cargo run --release --example hessian`

use clap::Parser;
use graft::autograd::functional::{hessian, hvp as functional_hvp, jvp, vjp};
use graft::autograd::{grad, Var};
use graft::tensor::Tensor;

/// Hessian-vector products and a few Newton steps on an N-dimensional Rosenbrock function.
#[derive(Parser, Debug)]
struct Cli {
    /// Dimension of the problem (from 4 up, Rosenbrock also has a local minimum).
    #[arg(long, default_value_t = 2)]
    dim: usize,
    /// Newton steps to take.
    #[arg(long, default_value_t = 10)]
    steps: usize,
}

/// f(x) = Σ 100 (x[i+1] - x[i]²)² + (1 - x[i])², minimised at x = 1.
fn rosenbrock(x: &Var<f64>) -> Var<f64> {
    let n = x.shape()[0];
    let head = x.narrow(0, 0, n - 1);
    let tail = x.narrow(0, 1, n - 1);
    let a = (&tail - &head.square()).square().mul_scalar(100.0);
    let b = head.rsub_scalar(1.0).square();
    (&a + &b).sum()
}

fn gradient(x: &Tensor<f64>) -> Vec<f64> {
    let v = Var::parameter(x.clone());
    grad(&[&rosenbrock(&v)], &[&v], None, false).unwrap()[0]
        .clone()
        .unwrap()
        .value()
        .to_vec()
}

/// H v, by differentiating <∇f(x), v> once more.
fn hvp(x: &Tensor<f64>, v: &Tensor<f64>) -> Vec<f64> {
    let xv = Var::parameter(x.clone());
    let g = grad(&[&rosenbrock(&xv)], &[&xv], None, true).unwrap()[0]
        .clone()
        .unwrap();
    let gv = (&g * &Var::new(v.clone())).sum();
    grad(&[&gv], &[&xv], None, false).unwrap()[0]
        .clone()
        .unwrap()
        .value()
        .to_vec()
}

/// Solves the small dense system `a x = b` by Gaussian elimination with partial pivoting.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap();
        a.swap(col, pivot);
        b.swap(col, pivot);
        let pivot_row = a[col].clone();
        for row in col + 1..n {
            let f = a[row][col] / pivot_row[col];
            for (x, p) in a[row][col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    x
}

fn main() {
    let cli = Cli::parse();
    let n = cli.dim.max(2);
    let start: Vec<f64> = (0..n)
        .map(|i| if i % 2 == 0 { -1.2 } else { 1.0 })
        .collect();
    let x = Tensor::from_vec(start, &[n]);

    // Check one HVP against central differences of the gradient: (∇f(x+εv) − ∇f(x−εv)) / 2ε.
    let v = Tensor::from_vec((0..n).map(|i| 1.0 / (i + 1) as f64).collect(), &[n]);
    let eps = 1e-5;
    let plus = gradient(&(&x + &v.mul_scalar(eps)));
    let minus = gradient(&(&x - &v.mul_scalar(eps)));
    let numeric: Vec<f64> = plus
        .iter()
        .zip(&minus)
        .map(|(p, m)| (p - m) / (2.0 * eps))
        .collect();
    let analytic = hvp(&x, &v);
    let worst = analytic
        .iter()
        .zip(&numeric)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0.0, f64::max);
    println!("Hv (autograd):          {analytic:.6?}");
    println!("Hv (finite differences): {numeric:.6?}");
    println!("largest relative difference: {worst:.2e}");
    assert!(worst < 1e-6, "HVP disagrees with finite differences");

    // The full Hessian in one call, against the same matrix built column by column from
    // Hessian-vector products with the unit vectors.
    let f = |v: &[Var<f64>]| rosenbrock(&v[0]);
    let xs = [Var::new(x.clone())];
    let full = hessian(f, &xs, false).unwrap()[0][0].value().to_vec();
    let mut by_columns = vec![0.0; n * n];
    for j in 0..n {
        let (_, column) = functional_hvp(f, &xs, Some(&[Var::new(unit(n, j))]), false).unwrap();
        for (i, h) in column[0].value().to_vec().into_iter().enumerate() {
            by_columns[i * n + j] = h;
        }
    }
    let worst = full
        .iter()
        .zip(&by_columns)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    println!("hessian():            {:.3?}", rows(&full, n));
    println!("hvp() column by column: {:.3?}", rows(&by_columns, n));
    println!("largest difference: {worst:.2e}");
    assert!(worst < 1e-9, "hessian and hvp columns disagree");

    // Newton's method: the gradient is a vjp of f (with v = 1), the Hessian's columns are
    // jvps of the gradient function with the unit vectors; then solve H d = -g.
    let mut x = x;
    for step in 0..=cli.steps {
        let xs = [Var::new(x.clone())];
        let (out, g) = vjp(f, &xs, None, false).unwrap();
        let g = g[0].value().to_vec();
        let gnorm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        println!(
            "step {step}: f = {:.3e}, |grad| = {gnorm:.3e}",
            out[0].item()
        );
        if step == cli.steps || gnorm < 1e-12 {
            break;
        }
        let gradient = |v: &[Var<f64>]| {
            grad(&[&rosenbrock(&v[0])], &[&v[0]], None, true).unwrap()[0]
                .clone()
                .unwrap()
        };
        let mut hess = vec![vec![0.0; n]; n];
        for j in 0..n {
            let (_, column) = jvp(gradient, &xs, Some(&[Var::new(unit(n, j))]), false).unwrap();
            for (row, h) in hess.iter_mut().zip(column[0].value().to_vec()) {
                row[j] = h;
            }
        }
        let d = solve(hess, g.iter().map(|v| -v).collect());
        x = &x + &Tensor::from_vec(d, &[n]);
    }
    println!("solution: {:.6?} (the minimum is at all ones)", x.to_vec());
}

/// The unit vector e_j of length n.
fn unit(n: usize, j: usize) -> Tensor<f64> {
    let mut e = vec![0.0; n];
    e[j] = 1.0;
    Tensor::from_vec(e, &[n])
}

/// A flat n × n matrix as rows, for printing.
fn rows(m: &[f64], n: usize) -> Vec<Vec<f64>> {
    m.chunks(n).map(<[f64]>::to_vec).collect()
}
