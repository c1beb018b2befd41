//! Reading batch arguments: a NumPy array or a Python sequence, checked for length
//! and type up front so a malformed *argument* raises before any work starts.

use numpy::{PyReadonlyArray1, PyReadonlyArray2, PyUntypedArray};
use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyIterator, PyString, PyTuple};

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
}

/// Append one item's bytes to `data`: bytes and bytearray are read in place (one
/// copy, into `data`); anything else must export a byte buffer (memoryview, a uint8
/// NumPy array, …). A `str` is refused: it has no defined byte encoding here.
fn push_item(item: &Bound<'_, PyAny>, data: &mut Vec<u8>) -> bool {
    if let Ok(b) = item.cast::<PyBytes>() {
        data.extend_from_slice(b.as_bytes());
        return true;
    }
    if let Ok(b) = item.cast::<PyByteArray>() {
        data.extend(b.to_vec());
        return true;
    }
    if item.is_instance_of::<PyString>() {
        return false;
    }
    match PyBuffer::<u8>::get(item).and_then(|b| b.to_vec(item.py())) {
        Ok(v) => {
            data.extend_from_slice(&v);
            true
        }
        Err(_) => false,
    }
}

/// An iterator over a sequence argument; one bytes or str object is refused (it
/// iterates, but as characters or ints, never as the items the caller meant).
fn sequence_iter<'py>(obj: &Bound<'py, PyAny>, name: &str) -> NativeResult<Bound<'py, PyIterator>> {
    if obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<PyString>() {
        return Err(NativeError::Batch(format!(
            "{name}: expected a sequence of byte strings, got one {}",
            obj.get_type().name()?
        )));
    }
    obj.try_iter().map_err(|_| {
        NativeError::Batch(format!(
            "{name}: expected a sequence of byte strings or (buffer, offsets)"
        ))
    })
}

/// Signed offsets as u64, naming the first negative one.
fn non_negative(offsets: impl Iterator<Item = i64>, name: &str) -> NativeResult<Vec<u64>> {
    offsets
        .enumerate()
        .map(|(i, o)| {
            u64::try_from(o)
                .map_err(|_| NativeError::Batch(format!("{name}: offsets[{i}] = {o} is negative")))
        })
        .collect()
}

/// The offsets of the packed form as u64, whatever integer dtype NumPy gave them.
fn offsets_of(obj: &Bound<'_, PyAny>, name: &str) -> NativeResult<Vec<u64>> {
    let bad = || NativeError::Batch(format!("{name}: offsets must be a 1-D integer NumPy array"));
    if let Ok(a) = obj.extract::<PyReadonlyArray1<'_, i64>>() {
        return non_negative(a.as_array().iter().copied(), name);
    }
    if let Ok(a) = obj.extract::<PyReadonlyArray1<'_, u64>>() {
        return Ok(a.as_array().to_vec());
    }
    if let Ok(a) = obj.extract::<PyReadonlyArray1<'_, i32>>() {
        return non_negative(a.as_array().iter().map(|&o| i64::from(o)), name);
    }
    if let Ok(a) = obj.extract::<PyReadonlyArray1<'_, u32>>() {
        return Ok(a.as_array().iter().map(|&o| u64::from(o)).collect());
    }
    Err(bad())
}

/// N+1 offsets, non-decreasing, the last one inside a buffer of `len` bytes.
fn check_offsets(offsets: &[u64], len: usize, name: &str) -> NativeResult<()> {
    if offsets.is_empty() {
        return Err(NativeError::Batch(format!(
            "{name}: offsets must have N+1 entries, got none"
        )));
    }
    for (i, w) in offsets.windows(2).enumerate() {
        if w[1] < w[0] {
            return Err(NativeError::Batch(format!(
                "{name}: offsets are not monotonic: offsets[{}] = {} < offsets[{i}] = {}",
                i + 1,
                w[1],
                w[0]
            )));
        }
    }
    let last = offsets[offsets.len() - 1];
    if last > len as u64 {
        return Err(NativeError::Batch(format!(
            "{name}: offsets[{}] = {last} is past the end of the {len}-byte buffer",
            offsets.len() - 1
        )));
    }
    Ok(())
}

/// The packed form `(buffer, offsets)`: item i is `buffer[offsets[i]:offsets[i+1]]`,
/// so N items need N+1 offsets, non-decreasing and inside the buffer. Returns None
/// when `obj` is not a 2-tuple whose second element is a NumPy array (then it is read
/// as a sequence of byte strings).
///
/// The buffer is copied once into an owned Vec before the GIL is released (borrowing
/// a writable NumPy array or bytearray without the GIL would be unsound: another
/// Python thread may write to it); [`item_refs`] borrows `bytes` buffers instead.
fn packed_items(obj: &Bound<'_, PyAny>, name: &str) -> NativeResult<Option<ByteItems>> {
    let Ok(t) = obj.cast::<PyTuple>() else {
        return Ok(None);
    };
    if t.len() != 2 {
        return Ok(None);
    }
    let offsets_obj = t.get_item(1)?;
    if !offsets_obj.is_instance_of::<PyUntypedArray>() {
        return Ok(None);
    }
    let buffer = t.get_item(0)?;
    let offsets = offsets_of(&offsets_obj, name)?;
    let data: Vec<u8> = if let Ok(b) = buffer.cast::<PyBytes>() {
        b.as_bytes().to_vec()
    } else if buffer.is_instance_of::<PyString>() {
        return Err(NativeError::Batch(format!(
            "{name}: the packed buffer must be bytes-like, not str"
        )));
    } else {
        PyBuffer::<u8>::get(&buffer)
            .and_then(|b| b.to_vec(obj.py()))
            .map_err(|e| {
                NativeError::Batch(format!(
                    "{name}: the packed buffer must be a contiguous byte buffer: {e}"
                ))
            })?
    };
    check_offsets(&offsets, data.len(), name)?;
    // In range and monotonic, so every offset fits in usize.
    Ok(Some(ByteItems {
        data,
        offsets: offsets.into_iter().map(|o| o as usize).collect(),
    }))
}

/// `name`: the argument name for error messages. Accepts a sequence of byte strings,
/// a 2-D uint8 NumPy array (one row per item), or the packed form `(buffer, offsets)`.
pub fn byte_items(obj: &Bound<'_, PyAny>, name: &str) -> NativeResult<ByteItems> {
    if let Some(items) = packed_items(obj, name)? {
        return Ok(items);
    }
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
    let iter = sequence_iter(obj, name)?;
    for (i, item) in iter.enumerate() {
        let item = item?;
        if !push_item(&item, &mut data) {
            return Err(NativeError::Batch(format!(
                "{name}[{i}]: expected bytes, got {}",
                item.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            )));
        }
        offsets.push(data.len());
    }
    Ok(ByteItems { data, offsets })
}

/// Batch items read without the GIL, borrowed where that is sound and copied where it
/// is not. `bytes` objects (the packed buffer, or each item of a sequence) are
/// borrowed: they are immutable, CPython never moves an object, and `owners` holds a
/// strong reference to each, so their contents stay valid and unchanged while the GIL
/// is released. Anything mutable (bytearray, memoryview, NumPy arrays) is copied once
/// into `owned`, because another Python thread could write to it while we read.
///
/// Why: a 2M-item batch of CSR-sized items is ~1 GB; on the 2-core development
/// machine copying it (page faults included) took 3-6 s, several per cent of the
/// verification itself, while borrowing costs nothing.
pub struct ItemRefs {
    /// (address, length) of each item, inside an owner's buffer or an `owned` box.
    spans: Vec<(usize, usize)>,
    owners: Vec<Py<PyAny>>,
    owned: Vec<Box<[u8]>>,
}

impl ItemRefs {
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn get(&self, i: usize) -> &[u8] {
        let (addr, len) = self.spans[i];
        // SAFETY: every span lies inside a buffer that lives as long as `self`: a
        // `bytes` object kept alive by `owners` (immutable, never moved) or a boxed
        // slice in `owned` (never mutated, dropped only with `self`). Each span was
        // checked to lie inside its buffer when it was made.
        unsafe { std::slice::from_raw_parts(addr as *const u8, len) }
    }

    fn own(&mut self, bytes: Vec<u8>) -> usize {
        let b = bytes.into_boxed_slice();
        let addr = b.as_ptr() as usize;
        self.owned.push(b);
        addr
    }

    fn own_items(&mut self, items: ByteItems) {
        let base = self.own(items.data);
        self.spans = items
            .offsets
            .windows(2)
            .map(|w| (base + w[0], w[1] - w[0]))
            .collect();
    }
}

/// Read a batch argument into [`ItemRefs`]: a sequence of byte strings, a 2-D uint8
/// NumPy array, or the packed form `(buffer, offsets)`, with the same rules and errors
/// as [`byte_items`].
pub fn item_refs(obj: &Bound<'_, PyAny>, name: &str) -> NativeResult<ItemRefs> {
    let mut out = ItemRefs {
        spans: Vec::new(),
        owners: Vec::new(),
        owned: Vec::new(),
    };
    if let Ok(t) = obj.cast::<PyTuple>() {
        let (buffer, offsets_obj) = match t.len() {
            2 => (t.get_item(0)?, t.get_item(1)?),
            _ => (obj.clone(), obj.clone()),
        };
        if let (Ok(b), true) = (
            buffer.cast::<PyBytes>(),
            offsets_obj.is_instance_of::<PyUntypedArray>(),
        ) {
            let offsets = offsets_of(&offsets_obj, name)?;
            let data = b.as_bytes();
            check_offsets(&offsets, data.len(), name)?;
            let base = data.as_ptr() as usize;
            // Monotonic and inside the buffer: every offset fits in usize.
            out.spans = offsets
                .windows(2)
                .map(|w| (base + w[0] as usize, (w[1] - w[0]) as usize))
                .collect();
            out.owners.push(buffer.clone().unbind());
            return Ok(out);
        }
    }
    if let Some(items) = packed_items(obj, name)? {
        out.own_items(items);
        return Ok(out);
    }
    if obj.extract::<PyReadonlyArray2<'_, u8>>().is_ok() {
        out.own_items(byte_items(obj, name)?);
        return Ok(out);
    }
    let iter = sequence_iter(obj, name)?;
    for (i, item) in iter.enumerate() {
        let item = item?;
        if let Ok(b) = item.cast::<PyBytes>() {
            let data = b.as_bytes();
            out.spans.push((data.as_ptr() as usize, data.len()));
            out.owners.push(item.clone().unbind());
            continue;
        }
        let mut copy = Vec::new();
        if !push_item(&item, &mut copy) {
            return Err(NativeError::Batch(format!(
                "{name}[{i}]: expected bytes, got {}",
                item.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            )));
        }
        let len = copy.len();
        let addr = out.own(copy);
        out.spans.push((addr, len));
    }
    Ok(out)
}

/// int64 NumPy array or a sequence of ints.
pub fn i64_items(obj: &Bound<'_, PyAny>, name: &str) -> NativeResult<Vec<i64>> {
    if let Ok(arr) = obj.extract::<PyReadonlyArray1<'_, i64>>() {
        return Ok(arr.as_array().iter().copied().collect());
    }
    obj.extract::<Vec<i64>>().map_err(|_| {
        NativeError::Batch(format!(
            "{name}: expected an int64 array or a sequence of ints"
        ))
    })
}

pub fn check_len(name: &str, got: usize, want: usize) -> NativeResult<()> {
    if got != want {
        return Err(NativeError::Batch(format!(
            "{name}: {got} items, expected {want} (one per certificate)"
        )));
    }
    Ok(())
}
