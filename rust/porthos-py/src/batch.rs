//! DerBatch: N DER items in one buffer, handed to Python without a copy (the Vec
//! becomes the NumPy array's storage) and read back without one.

use numpy::{IntoPyArray, PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::error::{NativeError, NativeResult};

#[pyclass(frozen, module = "porthos._native")]
pub struct DerBatch {
    data: Py<PyArray1<u8>>,
    offsets: Py<PyArray1<u64>>,
    len: usize,
}

fn read_only(arr: &Bound<'_, PyAny>) -> PyResult<()> {
    let kwargs = pyo3::types::PyDict::new(arr.py());
    kwargs.set_item("write", false)?;
    arr.call_method("setflags", (), Some(&kwargs))?;
    Ok(())
}

impl DerBatch {
    pub fn new(py: Python<'_>, data: Vec<u8>, offsets: Vec<u64>) -> PyResult<DerBatch> {
        let len = offsets.len().saturating_sub(1);
        let data = data.into_pyarray(py);
        let offsets = offsets.into_pyarray(py);
        read_only(data.as_any())?;
        read_only(offsets.as_any())?;
        Ok(DerBatch {
            data: data.unbind(),
            offsets: offsets.unbind(),
            len,
        })
    }

    /// Borrow the buffer and offsets (read-only; the arrays were made non-writeable).
    pub fn with_slices<T>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&[u8], &[u64]) -> T,
    ) -> NativeResult<T> {
        let data = self.data.bind(py).readonly();
        let offsets = self.offsets.bind(py).readonly();
        let d = data
            .as_slice()
            .map_err(|e| NativeError::Batch(e.to_string()))?;
        let o = offsets
            .as_slice()
            .map_err(|e| NativeError::Batch(e.to_string()))?;
        Ok(f(d, o))
    }

    /// Owned copy of the items, for work that runs after the GIL is released.
    pub fn to_owned_items(&self, py: Python<'_>) -> NativeResult<(Vec<u8>, Vec<u64>)> {
        self.with_slices(py, |d, o| (d.to_vec(), o.to_vec()))
    }
}

#[pymethods]
impl DerBatch {
    fn __len__(&self) -> usize {
        self.len
    }

    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        #[pyo3(from_py_with = crate::typed_args::index)] index: isize,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let i = if index < 0 {
            index + self.len as isize
        } else {
            index
        };
        if i < 0 || i as usize >= self.len {
            return Err(pyo3::exceptions::PyIndexError::new_err(format!(
                "DerBatch index {index} out of range"
            )));
        }
        let i = i as usize;
        Ok(self.with_slices(py, |d, o| {
            PyBytes::new(py, &d[o[i] as usize..o[i + 1] as usize])
        })?)
    }

    fn to_list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items: Vec<Bound<'py, PyBytes>> = self.with_slices(py, |d, o| {
            o.windows(2)
                .map(|w| PyBytes::new(py, &d[w[0] as usize..w[1] as usize]))
                .collect()
        })?;
        PyList::new(py, items)
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.to_list(py)?.as_any().try_iter()?.into_any())
    }

    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u8>> {
        self.data.bind(py).clone()
    }

    #[getter]
    fn offsets<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u64>> {
        self.offsets.bind(py).clone()
    }

    fn __repr__(&self) -> String {
        format!("DerBatch(len={})", self.len)
    }
}
