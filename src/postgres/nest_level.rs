//! A GUC nest level of clerk_sync's own, as a function's SET clause makes one: every setting
//! changed inside it (by clerk_sync, or by app code running in it) is undone when it is dropped,
//! on return and while an error unwinds.

use std::ffi::{c_int, CStr};

use pgrx::pg_sys;

pub struct NestLevel {
    level: c_int,
}

impl NestLevel {
    pub fn enter() -> Self {
        // SAFETY: opens a nest level that `drop` closes.
        NestLevel { level: unsafe { pg_sys::NewGUCNestLevel() } }
    }

    /// Sets `name` to `value` until this level is dropped.
    pub fn set(&self, name: &CStr, value: &CStr) {
        // SAFETY: two NUL-terminated strings; GUC_ACTION_SAVE ties the change to this level.
        unsafe {
            pg_sys::set_config_option(
                name.as_ptr(),
                value.as_ptr(),
                pg_sys::GucContext::PGC_USERSET,
                pg_sys::GucSource::PGC_S_SESSION,
                pg_sys::GucAction::GUC_ACTION_SAVE,
                true,
                0,
                false,
            );
        }
    }
}

impl Drop for NestLevel {
    fn drop(&mut self) {
        // SAFETY: closes the level `enter` opened, undoing what was set in it.
        unsafe { pg_sys::AtEOXact_GUC(false, self.level) }
    }
}
