//! Layers as plain structs holding `Var` parameters.

mod activation;
mod attention;
mod channels;
mod conv;
mod conv_more;
mod dropout;
mod embedding;
mod linear;
mod norm;
mod pool;
mod recurrent;
mod residual;
mod sequential;
mod transformer;

pub use activation::{Gelu, LeakyRelu, LogSoftmax, Relu, Sigmoid, Softmax, Softplus, Tanh};
pub use attention::{AttendOptions, MultiheadAttention};
pub use channels::{Dropout2d, GroupNorm, Upsample};
pub use conv::Conv2d;
pub use conv_more::{Conv1d, ConvTranspose2d};
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use linear::Linear;
pub use norm::{BatchNorm, BatchNorm1d, BatchNorm2d, LayerNorm};
pub use pool::{AdaptiveAvgPool2d, AvgPool2d, Flatten, MaxPool2d};
pub use recurrent::{Gru, Lstm, LstmState, Rnn, RnnConfig, RnnNonlinearity};
pub use residual::{BasicBlock, Residual};
pub use sequential::Sequential;
pub use transformer::{TransformerEncoder, TransformerEncoderLayer};
