//! The save/load API: state dicts to and from safetensors files, bytes and tensors.

use std::fs;
use std::io::Write;
use std::path::Path;

use graft_tensor::io::write_atomically;
use graft_tensor::{Float, Tensor};
use safetensors::Dtype;

use super::check::{assign, check, is_int64_buffer, Entry};
use super::codec::{decode, dtype_name, parse, serialize_tensors, st_dtype, unsupported_dtype};
use super::error::{Mismatch, StateDictError};
use crate::module::Module;

/// The module's parameters then buffers, under PyTorch's names, as tensors (sharing storage
/// with the module; copy-on-write keeps them from changing behind its back).
pub fn state_dict<T: Float, M: Module<T> + ?Sized>(module: &M) -> Vec<(String, Tensor<T>)> {
    module
        .named_state()
        .into_iter()
        .map(|(n, v)| (n, v.value()))
        .collect()
}

/// Writes the module's parameters and buffers to `path` as safetensors, in the module's
/// dtype (BatchNorm's `num_batches_tracked` as `int64`, as PyTorch does).
///
/// The bytes go to a temporary file in the same directory, which is flushed to disk and then
/// renamed over `path`: a failed save leaves any previous file at `path` as it was.
pub fn save_state_dict<T: Float, M: Module<T> + ?Sized>(
    module: &M,
    path: impl AsRef<Path>,
) -> Result<(), StateDictError> {
    let bytes = state_dict_to_bytes(module)?;
    Ok(write_atomically(path.as_ref(), |file| {
        file.write_all(&bytes)
    })?)
}

/// The safetensors bytes [`save_state_dict`] would write.
pub fn state_dict_to_bytes<T: Float, M: Module<T> + ?Sized>(
    module: &M,
) -> Result<Vec<u8>, StateDictError> {
    serialize_tensors(&state_dict(module))
}

/// Loads the safetensors file at `path` into the module: see [`load_state_dict_from_bytes`].
pub fn load_state_dict<T: Float, M: Module<T> + ?Sized>(
    module: &M,
    path: impl AsRef<Path>,
) -> Result<(), StateDictError> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    load_state_dict_from_bytes(module, &bytes, &path.display().to_string())
}

/// Loads safetensors bytes into the module. Every entry of the module must be in the file
/// with the same shape and dtype, and the file must hold nothing else; otherwise the error
/// lists every missing, unexpected and mismatched entry and the module is left unchanged.
/// `source` names the bytes in error messages (a file name, a URL).
pub fn load_state_dict_from_bytes<T: Float, M: Module<T> + ?Sized>(
    module: &M,
    bytes: &[u8],
    source: &str,
) -> Result<(), StateDictError> {
    let st = parse(bytes, source)?;
    let targets = module.named_state();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = st.tensors();
    let entries: Vec<Entry<'_>> = views
        .iter()
        .map(|(name, view)| Entry {
            name,
            dtype: view.dtype(),
            shape: view.shape(),
            data: view.data(),
        })
        .collect();
    let plan = check(&targets, &entries, source, true)?;
    let values = plan
        .iter()
        .map(|&(t, e)| {
            let e = &entries[e];
            let data = decode::<T>(e.dtype, e.data).ok_or_else(|| {
                StateDictError::corrupt(
                    source,
                    None,
                    format!("cannot decode {} as {}", e.name, T::DTYPE),
                )
            })?;
            Ok((t, Tensor::from_vec(data, e.shape)))
        })
        .collect::<Result<Vec<_>, StateDictError>>()?;
    assign(&targets, values, source)
}

/// Loads named tensors (as [`state_dict`] returns them) into the module, with the same
/// checks as [`load_state_dict_from_bytes`]: all or nothing, every problem reported.
pub fn load_state_dict_tensors<T: Float, M: Module<T> + ?Sized>(
    module: &M,
    tensors: impl IntoIterator<Item = (String, Tensor<T>)>,
) -> Result<(), StateDictError> {
    let tensors: Vec<(String, Tensor<T>)> = tensors.into_iter().collect();
    let targets = module.named_state();
    let dtype = st_dtype::<T>().ok_or_else(|| unsupported_dtype::<T>())?;
    let entries: Vec<Entry<'_>> = tensors
        .iter()
        .map(|(name, t)| Entry {
            name,
            dtype,
            shape: t.shape(),
            data: &[],
        })
        .collect();
    let plan = check(&targets, &entries, "(tensors)", false)?;
    let values = plan
        .iter()
        .map(|&(t, e)| (t, tensors[e].1.clone()))
        .collect();
    assign(&targets, values, "(tensors)")
}

/// Writes named tensors to `path` as safetensors, atomically as [`save_state_dict`] does.
pub fn save_tensors<T: Float>(
    tensors: &[(String, Tensor<T>)],
    path: impl AsRef<Path>,
) -> Result<(), StateDictError> {
    let bytes = serialize_tensors(tensors)?;
    Ok(write_atomically(path.as_ref(), |file| {
        file.write_all(&bytes)
    })?)
}

/// Reads every tensor of a safetensors file, in file order. Every entry must have dtype `T`
/// (an error lists those that do not), except `int64` counters such as BatchNorm's
/// `num_batches_tracked`, which are converted.
pub fn load_tensors<T: Float>(
    path: impl AsRef<Path>,
) -> Result<Vec<(String, Tensor<T>)>, StateDictError> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    load_tensors_from_bytes(&bytes, &path.display().to_string())
}

/// Reads every tensor of safetensors bytes, in file order (see [`load_tensors`]); `source`
/// names the bytes in error messages.
pub fn load_tensors_from_bytes<T: Float>(
    bytes: &[u8],
    source: &str,
) -> Result<Vec<(String, Tensor<T>)>, StateDictError> {
    let st = parse(bytes, source)?;
    let mut views = st.tensors();
    views.sort_by(|(a, va), (b, vb)| {
        (va.data().as_ptr() as usize, a).cmp(&(vb.data().as_ptr() as usize, b))
    });
    let expected = st_dtype::<T>().ok_or_else(|| unsupported_dtype::<T>())?;
    let mismatches: Vec<Mismatch> = views
        .iter()
        .filter(|(name, v)| {
            v.dtype() != expected && !(v.dtype() == Dtype::I64 && is_int64_buffer(name))
        })
        .map(|(name, v)| Mismatch::Dtype {
            name: name.clone(),
            expected: T::DTYPE.to_string(),
            found: dtype_name(v.dtype()),
        })
        .collect();
    if !mismatches.is_empty() {
        return Err(StateDictError::Mismatch {
            source: source.to_string(),
            mismatches,
        });
    }
    // Nothing bounds what a file asks for but the cap (loading into a module is bounded by
    // the module's own sizes instead): check it before decoding allocates.
    let shapes: Vec<&[usize]> = views.iter().map(|(_, v)| v.shape()).collect();
    crate::limits::check_parameter_count(source, &shapes)
        .map_err(|m| StateDictError::corrupt(source, None, m))?;
    views
        .into_iter()
        .map(|(name, v)| {
            let data = decode::<T>(v.dtype(), v.data()).ok_or_else(|| {
                StateDictError::corrupt(
                    source,
                    None,
                    format!("cannot decode {name} as {}", T::DTYPE),
                )
            })?;
            Ok((name, Tensor::from_vec(data, v.shape())))
        })
        .collect()
}

fn read_file(path: &Path) -> Result<Vec<u8>, StateDictError> {
    fs::read(path).map_err(|error| StateDictError::Io {
        path: path.to_path_buf(),
        action: "reading",
        error,
    })
}
