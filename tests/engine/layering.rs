//! The layer rule, checked: the simulation core (src/core) parses strings and
//! returns values; it never touches files, images, windows or the GPU, and
//! never imports the application.

const FORBIDDEN: &[&str] = &[
    "std::fs",
    "std::path",
    "File::",
    "image::",
    "plotters",
    "wgpu",
    "winit",
    "egui",
    "crate::app",
    "crate::gpu",
    "println!",
    "eprintln!",
];

#[test]
fn the_core_has_no_file_image_window_or_gpu_dependency() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/core");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).expect("src/core") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("source");
            for (i, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for f in FORBIDDEN {
                    assert!(!code.contains(f), "{}:{}: the core must not use `{f}`: {line}", path.display(), i + 1);
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 8, "found only {checked} core files");
}
