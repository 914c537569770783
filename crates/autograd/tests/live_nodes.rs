//! Graph memory: after many training steps no node is left alive (alone in this binary,
//! since the node counter is process-wide).

use graft_autograd::{live_nodes, no_grad, Var};
use graft_tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;

#[test]
fn a_thousand_training_steps_leave_no_live_nodes() {
    let mut rng = StdRng::seed_from_u64(0);
    let w = Var::parameter(Tensor::<f32>::normal(&[8, 4], 0.0, 0.3, &mut rng));
    let b = Var::parameter(Tensor::<f32>::zeros(&[4]));
    let x = Var::new(Tensor::<f32>::normal(&[16, 8], 0.0, 1.0, &mut rng));
    let y = Var::new(Tensor::<f32>::normal(&[16, 4], 0.0, 1.0, &mut rng));
    let mut last = f32::INFINITY;
    for _ in 0..1000 {
        let loss = (&(&x.matmul(&w) + &b).tanh() - &y).square().mean();
        last = loss.item();
        loss.backward().unwrap();
        assert!(live_nodes() > 0);
        no_grad(|| {
            for p in [&w, &b] {
                let g = p.grad().unwrap();
                p.update_value(|d| {
                    d.iter_mut()
                        .zip(g.to_vec())
                        .for_each(|(v, g)| *v -= 0.1 * g)
                });
                p.zero_grad();
            }
        });
    }
    assert!(last < 1.0, "training made progress (loss {last})");
    assert_eq!(live_nodes(), 0);

    // The count is kept per thread: graphs made by threads that have exited and freed by
    // yet another thread still add up to the true count.
    let graphs: Vec<Var<f32>> = (0..4)
        .map(|_| {
            let (w, x) = (w.clone(), x.clone());
            std::thread::spawn(move || x.matmul(&w).tanh().sum())
                .join()
                .unwrap()
        })
        .collect();
    assert_eq!(live_nodes(), 4 * 3, "matmul, tanh and sum per graph");
    std::thread::spawn(move || drop(graphs)).join().unwrap();
    assert_eq!(live_nodes(), 0);
}
