//! The templates in use, reloaded when their files change: an edit to `deploy/templates`
//! (or the ConfigMap mounted over it) applies within seconds, without a restart. A broken
//! edit is logged and ignored, and the last good set stays in use. If no good set was ever
//! loaded, messages wait as a transient failure instead of the service crash-looping; they
//! go out once the files are fixed.

use crate::messages::Templates;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct TemplateStore {
    dir: PathBuf,
    current: RwLock<Result<Arc<Templates>, String>>,
    /// Fingerprint of the files last looked at, loaded or not.
    seen: Mutex<u64>,
}

impl TemplateStore {
    pub fn open(dir: &Path) -> TemplateStore {
        let store = TemplateStore {
            dir: dir.to_owned(),
            current: RwLock::new(Err("not loaded yet".into())),
            seen: Mutex::new(0),
        };
        store.reload_if_changed();
        store
    }

    /// The last good templates, or why there are none.
    pub fn current(&self) -> Result<Arc<Templates>, String> {
        self.current
            .read()
            .map_err(|_| "template store poisoned".to_owned())?
            .clone()
    }

    /// Loads the files again if any changed since the last look; true when a new set is in use.
    pub fn reload_if_changed(&self) -> bool {
        let fingerprint = fingerprint(&self.dir);
        {
            let Ok(mut seen) = self.seen.lock() else { return false };
            if *seen == fingerprint {
                return false;
            }
            *seen = fingerprint;
        }
        match Templates::load(&self.dir) {
            Ok(templates) => {
                if let Ok(mut current) = self.current.write() {
                    *current = Ok(Arc::new(templates));
                }
                metrics::gauge!("lapor_templates_loaded").set(1.0);
                tracing::info!(dir = %self.dir.display(), "message templates loaded");
                true
            }
            Err(error) => {
                let kept = match self.current.write() {
                    Ok(mut current) if current.is_err() => {
                        *current = Err(error.to_string());
                        metrics::gauge!("lapor_templates_loaded").set(0.0);
                        false
                    }
                    _ => true,
                };
                tracing::error!(%error, kept_previous = kept, "message templates not loaded; fix the files");
                false
            }
        }
    }

    pub async fn watch(self: Arc<Self>, every: Duration, stop: CancellationToken) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.cancelled() => break,
            }
            self.reload_if_changed();
        }
    }
}

/// Names, sizes and modification times of every file under `dir`.
fn fingerprint(dir: &Path) -> u64 {
    fn walk(dir: &Path, hasher: &mut DefaultHasher) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            path.hash(hasher);
            if let Ok(meta) = std::fs::metadata(&path) {
                if meta.is_dir() {
                    walk(&path, hasher);
                } else {
                    meta.len().hash(hasher);
                    meta.modified().ok().hash(hasher);
                }
            }
        }
    }
    let mut hasher = DefaultHasher::new();
    dir.hash(&mut hasher);
    walk(dir, &mut hasher);
    // Never 0, the "nothing seen yet" marker.
    hasher.finish() | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("dir");
        for entry in std::fs::read_dir(from).expect("read").flatten() {
            let target = to.join(entry.file_name());
            if entry.path().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).expect("copy");
            }
        }
    }

    fn shipped() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/templates")
    }

    fn scratch(label: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lapor_template_store_{label}_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        copy_dir(&shipped(), &dir);
        dir
    }

    #[test]
    fn a_broken_edit_keeps_the_last_good_set_and_a_fix_applies() {
        let dir = scratch("edit");
        let store = TemplateStore::open(&dir);
        assert!(store.current().is_ok());
        let sms = dir.join("id/assigned.sms.txt");
        let good = std::fs::read_to_string(&sms).expect("template");
        std::fs::write(&sms, "{{ tracking_id ").expect("write");
        assert!(!store.reload_if_changed(), "the broken set is refused");
        assert!(store.current().is_ok(), "the last good set stays in use");
        std::fs::write(&sms, format!("BARU {good}")).expect("write");
        assert!(store.reload_if_changed());
        assert!(!store.reload_if_changed(), "nothing changed since");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_broken_start_waits_for_a_fix_instead_of_failing() {
        let dir = scratch("start");
        let sms = dir.join("en/escalated.sms.txt");
        let good = std::fs::read_to_string(&sms).expect("template");
        std::fs::remove_file(&sms).expect("remove");
        let store = TemplateStore::open(&dir);
        let reason = store.current().expect_err("no templates yet");
        assert!(reason.contains("escalated.sms.txt"), "{reason}");
        std::fs::write(&sms, good).expect("restore");
        assert!(store.reload_if_changed());
        assert!(store.current().is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
