//! A short tour of graft's tensors: views that never copy, broadcasting, reductions and
//! matmul. Run with `cargo run --release --example tensor_tour`.

use graft::tensor::Tensor;

fn main() {
    // A 2x3 matrix from a buffer, and views of it: no data is copied.
    let a = Tensor::<f32>::arange(0.0, 6.0, 1.0).reshape(&[2, 3]);
    let at = a.t(); // [3, 2], strides [1, 3]
    let col = a.select(1, 2); // third column, [2]
    let rev = a.flip(1); // negative stride
    println!("a = {a}");
    println!(
        "a.t() = {at}  (strides {:?}, shares storage: {})",
        at.strides(),
        at.shares_storage(&a)
    );
    println!("a[:, 2] = {col}, a flipped = {rev}");

    // Broadcasting: [2, 3] + [3] and [2, 1] * [1, 3].
    let bias = Tensor::from_vec(vec![10.0f32, 20.0, 30.0], &[3]);
    println!("a + bias = {}", &a + &bias);
    let outer = &Tensor::from_vec(vec![1.0f32, 2.0], &[2, 1])
        * &Tensor::from_vec(vec![1.0f32, 10.0, 100.0], &[1, 3]);
    println!("outer product by broadcasting = {outer}");

    // Reductions with keepdim, and a stable logsumexp.
    println!(
        "row sums = {}, column max = {}",
        a.sum_dims(&[1], false),
        a.max_dims(&[0], true)
    );
    println!("logsumexp over rows = {}", a.logsumexp_dims(&[1], false));

    // matmul takes the transposed view as it is: the gemm reads its strides.
    let gram = a.matmul(&at);
    println!("a @ a.t() = {gram}");

    // Errors name the op and the shapes.
    let err = a.try_matmul(&a).unwrap_err();
    println!("a @ a fails: {err}");
}
