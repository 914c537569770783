//! Second derivatives with graft: Hessian-vector products by differentiating a gradient
//! (`grad` with `create_graph`), checked against finite differences of the gradient, and
//! Newton's method on the Rosenbrock function using the full Hessian built from HVPs.
//!
//! `cargo run --release --example hessian`

use clap::Parser;
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

    // Newton's method: H from n HVPs with the unit vectors, then solve H d = -g.
    let mut x = x;
    for step in 0..=cli.steps {
        let xv = Var::new(x.clone());
        let f = rosenbrock(&xv).item();
        let g = gradient(&x);
        let gnorm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        println!("step {step}: f = {f:.3e}, |grad| = {gnorm:.3e}");
        if step == cli.steps || gnorm < 1e-12 {
            break;
        }
        let hessian: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                let mut e = vec![0.0; n];
                e[i] = 1.0;
                hvp(&x, &Tensor::from_vec(e, &[n]))
            })
            .collect();
        let d = solve(hessian, g.iter().map(|v| -v).collect());
        x = &x + &Tensor::from_vec(d, &[n]);
    }
    println!("solution: {:.6?} (the minimum is at all ones)", x.to_vec());
}
