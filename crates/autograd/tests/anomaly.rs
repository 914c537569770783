//! Anomaly mode (process-wide, so alone in this test binary).

use graft_autograd::{set_anomaly_mode, Var};
use graft_tensor::Tensor;

#[test]
fn anomaly_mode_names_the_first_op_that_makes_a_nan_or_inf() {
    let x = Var::parameter(Tensor::from_vec(vec![-1.0f64, 4.0], &[2])).with_name("x");
    // Off by default: NaN flows silently, as in PyTorch.
    assert!(x.try_apply_log().is_ok());
    set_anomaly_mode(true);
    let err = Var::try_apply(LogOf, &[&x]).unwrap_err().to_string();
    assert!(
        err.contains("log")
            && err.contains("forward")
            && err.contains("[2]")
            && err.contains("'x'"),
        "{err}"
    );
    // Backward: sqrt at 0 has an infinite derivative.
    let z = Var::parameter(Tensor::from_vec(vec![0.0f64, 1.0], &[2])).with_name("z");
    let err = z.sqrt().sum().backward().unwrap_err().to_string();
    assert!(
        err.contains("sqrt") && err.contains("backward") && err.contains("'z'"),
        "{err}"
    );
    set_anomaly_mode(false);
}

/// Helpers so the test reads as "try log".
trait TryLog {
    fn try_apply_log(&self) -> Result<Var<f64>, graft_tensor::TensorError>;
}
impl TryLog for Var<f64> {
    fn try_apply_log(&self) -> Result<Var<f64>, graft_tensor::TensorError> {
        Var::try_apply(LogOf, &[self])
    }
}

/// log through the public Op trait, so the test can use the fallible `try_apply`.
struct LogOf;
impl graft_autograd::Op<f64> for LogOf {
    fn name(&self) -> &'static str {
        "log"
    }
    fn forward(&self, x: &[Tensor<f64>]) -> Result<Tensor<f64>, graft_tensor::TensorError> {
        Ok(x[0].log())
    }
    fn backward(&self, x: &[Var<f64>], _: &Var<f64>, g: &Var<f64>) -> Vec<Option<Var<f64>>> {
        vec![Some(g / &x[0])]
    }
}
