//! Reading batch arguments: a NumPy array or a Python sequence, checked for length
//! and type up front so a malformed *argument* raises before any work starts.

use numpy::{PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyByteArray};

use crate::error::{NativeError, NativeResult};

/// A sequence of byte strings (bytes, bytearray or memoryview-able objects), copied
/// into one owned buffer + offsets so the work after it can run without the GIL.
pub struct ByteItems {
    pub data: Vec<u8>,
    pub offsets: Vec<usize>,
}

impl ByteItems {
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }
    pub fn get(&self, i: usize) -> &[u8] {
        &self.data[self.offsets[i]..self.offsets[i + 1]]
    }
    pub fn slices(&self) -> Vec<&[u8]> {
        (0..self.len()).map(|i| self.get(i)).collect()
    }
}

fn as_bytes(item: &Bound<'_, PyAny>) -> Option<Vec<u8>> {
    if let Ok(b) = item.cast::<PyBytes>() {
        return Some(b.as_bytes().to_vec());
    }
    if let Ok(b) = item.cast::<PyByteArray>() {
        return Some(b.to_vec());
    }
    item.extract::<Vec<u8>>().ok().filter(|_| !item.is_instance_of::<pyo3::types::PyString>())
}

/// `name`: the argument name for error messages.
pub fn byte_items(obj: &Bound<'_, PyAny>, name: &str) -> NativeResult<ByteItems> {
    let mut data = Vec::new();
    let mut offsets = vec![0usize];
    if let Ok(arr) = obj.extract::<PyReadonlyArray2<'_, u8>>() {
        let view = arr.as_array();
        for row in view.rows() {
            data.extend(row.iter().copied());
            offsets.push(data.len());
        }
        return Ok(ByteItems { data, offsets });
    }
    if obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<pyo3::types::PyString>() {
        return Err(NativeError::Batch(format!("{name}: expected a sequence of byte strings, got one {}", obj.get_type().name()?)));
    }
    let iter = obj
        .try_iter()
        .map_err(|_| NativeError::Batch(format!("{name}: expected a sequence of byte strings")))?;
    for (i, item) in iter.enumerate() {
        let item = item?;
        let bytes = as_bytes(&item).ok_or_else(|| {
            NativeError::Batch(format!(
                "{name}[{i}]: expected bytes, got {}",
                item.get_type().name().map(|n| n.to_string()).unwrap_or_default()
            ))
        })?;
        data.extend_from_slice(&bytes);
        offsets.push(data.len());
    }
    Ok(ByteItems { data, offsets })
}

/// int64 NumPy array or a sequence of ints.
pub fn i64_items(obj: &Bound<'_, PyAny>, name: &str) -> NativeResult<Vec<i64>> {
    if let Ok(arr) = obj.extract::<PyReadonlyArray1<'_, i64>>() {
        return Ok(arr.as_array().iter().copied().collect());
    }
    obj.extract::<Vec<i64>>()
        .map_err(|_| NativeError::Batch(format!("{name}: expected an int64 array or a sequence of ints")))
}

pub fn check_len(name: &str, got: usize, want: usize) -> NativeResult<()> {
    if got != want {
        return Err(NativeError::Batch(format!("{name}: {got} items, expected {want} (one per certificate)")));
    }
    Ok(())
}

/// A rayon pool of `threads` workers, or None for the global pool (all cores).
pub fn pool(threads: Option<usize>) -> NativeResult<Option<rayon::ThreadPool>> {
    match threads {
        None => Ok(None),
        Some(0) => Err(NativeError::Batch("threads: must be at least 1".into())),
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .map(Some)
            .map_err(|e| NativeError::Batch(format!("threads: {e}"))),
    }
}

/// Run `f` inside the pool when there is one.
pub fn run_in<T: Send>(pool: &Option<rayon::ThreadPool>, f: impl FnOnce() -> T + Send) -> T {
    match pool {
        Some(p) => p.install(f),
        None => f(),
    }
}
