//! Layers as plain structs holding `Var` parameters.

mod activation;
mod attention;
mod conv;
mod dropout;
mod embedding;
mod linear;
mod norm;
mod pool;
mod recurrent;
mod sequential;
mod transformer;

pub use activation::{Gelu, LeakyRelu, LogSoftmax, Relu, Sigmoid, Softmax, Softplus, Tanh};
pub use attention::{AttendOptions, MultiheadAttention};
pub use conv::Conv2d;
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use linear::Linear;
pub use norm::{BatchNorm, BatchNorm1d, BatchNorm2d, LayerNorm};
pub use pool::{AdaptiveAvgPool2d, AvgPool2d, Flatten, MaxPool2d};
pub use recurrent::{Gru, Lstm, LstmState, Rnn, RnnConfig, RnnNonlinearity};
pub use sequential::Sequential;
pub use transformer::{TransformerEncoder, TransformerEncoderLayer};
