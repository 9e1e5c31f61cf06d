//! GPU telemetry from NVIDIA's NVML, loaded at run time (`dlopen("libnvidia-ml.so.1")`), so
//! one binary runs everywhere: on a machine without a GPU or driver, [`Nvml::load`] returns a
//! one-line reason and the run continues without a `gpu` block's local readings.
//!
//! Only the C entry points infermeter needs are resolved, each by name:
//! `nvmlInit_v2`, `nvmlShutdown`, `nvmlDeviceGetCount_v2`, `nvmlDeviceGetHandleByIndex_v2`,
//! `nvmlDeviceGetName`, `nvmlDeviceGetUUID`, `nvmlDeviceGetMemoryInfo` (bytes),
//! `nvmlDeviceGetUtilizationRates` (percent of time a kernel ran), `nvmlDeviceGetPowerUsage`
//! (mW) and `nvmlDeviceGetTotalEnergyConsumption` (mJ since the driver loaded; Volta and
//! newer). A call a GPU does not support (utilization on MIG, energy before Volta) leaves that
//! field out, it never reads as zero. NVML is initialized once per run and shut down on drop.
//!
//! `INFERMETER_NVML_LIBRARY=/path/to/lib.so` loads another library with the same ABI instead
//! (the tests use a stand-in built from `tests/fixtures/nvml/fake_nvml.c`).

use super::concepts::GpuReading;
use std::ffi::{c_char, c_int, c_uint, c_ulonglong, c_void};

type Device = *mut c_void;

#[repr(C)]
#[derive(Default)]
struct Memory {
    total: c_ulonglong,
    free: c_ulonglong,
    used: c_ulonglong,
}

#[repr(C)]
#[derive(Default)]
struct Utilization {
    gpu: c_uint,
    memory: c_uint,
}

const NVML_SUCCESS: c_int = 0;
/// Large enough for `NVML_DEVICE_NAME_V2_BUFFER_SIZE` and `NVML_DEVICE_UUID_V2_BUFFER_SIZE` (96).
const TEXT_BUF: usize = 96;

struct Api {
    init: unsafe extern "C" fn() -> c_int,
    shutdown: unsafe extern "C" fn() -> c_int,
    count: unsafe extern "C" fn(*mut c_uint) -> c_int,
    by_index: unsafe extern "C" fn(c_uint, *mut Device) -> c_int,
    name: unsafe extern "C" fn(Device, *mut c_char, c_uint) -> c_int,
    uuid: unsafe extern "C" fn(Device, *mut c_char, c_uint) -> c_int,
    memory: unsafe extern "C" fn(Device, *mut Memory) -> c_int,
    utilization: unsafe extern "C" fn(Device, *mut Utilization) -> c_int,
    power: unsafe extern "C" fn(Device, *mut c_uint) -> c_int,
    energy: unsafe extern "C" fn(Device, *mut c_ulonglong) -> c_int,
}

/// One GPU found at load time.
#[derive(Debug, Clone, PartialEq)]
pub struct NvmlDevice {
    pub index: u32,
    pub name: String,
    pub uuid: String,
    handle: usize,
}

/// A loaded, initialized NVML.
pub struct Nvml {
    api: Api,
    pub devices: Vec<NvmlDevice>,
    /// Which file was loaded.
    pub library: String,
    // Dropped last: the function pointers above point into it.
    _lib: libloading::Library,
}

impl std::fmt::Debug for Nvml {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nvml")
            .field("library", &self.library)
            .field("devices", &self.devices)
            .finish()
    }
}

// SAFETY: NVML is thread-safe (its documentation: "NVML is thread-safe so it is safe to make
// simultaneous NVML calls from multiple threads"); device handles are opaque pointers owned by
// the library and valid until nvmlShutdown, which only `Drop` calls.
unsafe impl Send for Nvml {}
unsafe impl Sync for Nvml {}

fn text(buf: &[c_char]) -> String {
    let bytes: Vec<u8> = buf.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

impl Nvml {
    /// Load and initialize NVML; `Err` says in one line why there is no local GPU telemetry.
    pub fn load() -> Result<Nvml, String> {
        match std::env::var("INFERMETER_NVML_LIBRARY") {
            Ok(p) if !p.is_empty() => Nvml::load_from(&[p.as_str()]),
            _ => Nvml::load_from(&["libnvidia-ml.so.1", "libnvidia-ml.so"]),
        }
    }

    /// Load the first of `candidates` that opens (file names are searched like `dlopen` does).
    pub fn load_from(candidates: &[&str]) -> Result<Nvml, String> {
        let mut last_err = String::new();
        for path in candidates {
            // SAFETY: loading a shared library runs its initializers; NVML's are benign. The
            // path is either the driver's library name or one the user chose explicitly.
            match unsafe { libloading::Library::new(path) } {
                Ok(lib) => return Nvml::init(lib, path),
                Err(e) => last_err = e.to_string(),
            }
        }
        Err(format!("NVML not available: {last_err}"))
    }

    fn init(lib: libloading::Library, path: &str) -> Result<Nvml, String> {
        macro_rules! sym {
            ($name:literal) => {
                // SAFETY: the symbol is declared with NVML's documented C signature.
                *unsafe { lib.get($name) }.map_err(|e| {
                    format!(
                        "NVML at {path} lacks {}: {e}",
                        String::from_utf8_lossy(&$name[..$name.len() - 1])
                    )
                })?
            };
        }
        let api = Api {
            init: sym!(b"nvmlInit_v2\0"),
            shutdown: sym!(b"nvmlShutdown\0"),
            count: sym!(b"nvmlDeviceGetCount_v2\0"),
            by_index: sym!(b"nvmlDeviceGetHandleByIndex_v2\0"),
            name: sym!(b"nvmlDeviceGetName\0"),
            uuid: sym!(b"nvmlDeviceGetUUID\0"),
            memory: sym!(b"nvmlDeviceGetMemoryInfo\0"),
            utilization: sym!(b"nvmlDeviceGetUtilizationRates\0"),
            power: sym!(b"nvmlDeviceGetPowerUsage\0"),
            energy: sym!(b"nvmlDeviceGetTotalEnergyConsumption\0"),
        };
        // SAFETY: plain C calls with valid out-pointers, per the NVML API reference.
        let rc = unsafe { (api.init)() };
        if rc != NVML_SUCCESS {
            return Err(format!(
                "NVML at {path} failed to initialize (nvmlInit_v2 returned {rc}: no driver or no GPU)"
            ));
        }
        let mut n: c_uint = 0;
        // SAFETY: as above.
        let rc = unsafe { (api.count)(&mut n) };
        let mut nvml = Nvml {
            api,
            devices: Vec::new(),
            library: path.to_string(),
            _lib: lib,
        };
        if rc != NVML_SUCCESS {
            return Err(format!("nvmlDeviceGetCount_v2 returned {rc}"));
        }
        for i in 0..n.min(64) {
            let mut h: Device = std::ptr::null_mut();
            // SAFETY: as above.
            if unsafe { (nvml.api.by_index)(i, &mut h) } != NVML_SUCCESS || h.is_null() {
                continue;
            }
            let mut name = [0 as c_char; TEXT_BUF];
            let mut uuid = [0 as c_char; TEXT_BUF];
            // SAFETY: buffers of TEXT_BUF bytes, length passed; NVML NUL-terminates.
            unsafe {
                (nvml.api.name)(h, name.as_mut_ptr(), TEXT_BUF as c_uint);
                (nvml.api.uuid)(h, uuid.as_mut_ptr(), TEXT_BUF as c_uint);
            }
            nvml.devices.push(NvmlDevice {
                index: i,
                name: text(&name),
                uuid: text(&uuid),
                handle: h as usize,
            });
        }
        if nvml.devices.is_empty() {
            return Err(format!("NVML at {path} found no GPU"));
        }
        Ok(nvml)
    }

    /// Read every GPU once. Fields a GPU does not support are `None`.
    pub fn poll(&self) -> Vec<GpuReading> {
        self.devices
            .iter()
            .map(|d| {
                let h = d.handle as Device;
                let mut mem = Memory::default();
                let mut util = Utilization::default();
                let mut mw: c_uint = 0;
                let mut mj: c_ulonglong = 0;
                // SAFETY: valid handle (from nvmlDeviceGetHandleByIndex_v2, NVML still
                // initialized) and valid out-pointers.
                let (rm, ru, rp, re) = unsafe {
                    (
                        (self.api.memory)(h, &mut mem),
                        (self.api.utilization)(h, &mut util),
                        (self.api.power)(h, &mut mw),
                        (self.api.energy)(h, &mut mj),
                    )
                };
                let ok = |rc: c_int| rc == NVML_SUCCESS;
                GpuReading {
                    id: if d.uuid.is_empty() {
                        d.index.to_string()
                    } else {
                        d.uuid.clone()
                    },
                    name: Some(d.name.clone()),
                    memory_used_bytes: ok(rm).then_some(mem.used as f64),
                    memory_total_bytes: ok(rm).then_some(mem.total as f64),
                    utilization: ok(ru).then_some(f64::from(util.gpu) / 100.0),
                    power_w: ok(rp).then_some(f64::from(mw) / 1000.0),
                    energy_j: ok(re).then_some(mj as f64 / 1000.0),
                }
            })
            .collect()
    }
}

impl Drop for Nvml {
    fn drop(&mut self) {
        // SAFETY: balanced with the successful nvmlInit_v2 in `init`.
        unsafe {
            (self.api.shutdown)();
        }
    }
}

/// A device name as NVML returns it, for tests of [`text`].
#[cfg(test)]
fn cstr(s: &std::ffi::CStr) -> String {
    let v: Vec<c_char> = s.to_bytes_with_nul().iter().map(|&b| b as c_char).collect();
    text(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_library_is_a_one_line_reason() {
        // A path that cannot exist: the loader must say why, not panic.
        let e = Nvml::load_from(&["/nonexistent/libnvidia-ml.so.1"]).unwrap_err();
        assert!(e.starts_with("NVML not available: "), "{e}");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn nul_terminated_text() {
        assert_eq!(cstr(c"NVIDIA H100 80GB HBM3"), "NVIDIA H100 80GB HBM3");
        assert_eq!(text(&[0; 4]), "");
    }
}
