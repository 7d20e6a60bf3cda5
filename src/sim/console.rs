//! The simulator's console on standard input, shaped like a controller's:
//! `controller N` picks the controller to talk to (its name becomes the
//! prompt), and `show nmsp status` then prints that controller's table
//! only, as a real controller would; before any pick it prints every
//! controller's, each under its name.

use std::sync::Arc;

use super::{SimController, show_all, show_nmsp_status};

#[derive(Debug, Default)]
pub struct Console {
    selected: Option<usize>,
}

impl Console {
    /// Runs one typed line; returns what the console prints.
    pub fn run(&mut self, line: &str, controllers: &[Arc<SimController>]) -> String {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => String::new(),
            ["controller", n] => match pick(n, controllers.len()) {
                Some(i) => {
                    self.selected = Some(i);
                    format!("{}#\n", controllers[i].spec.name)
                }
                None => format!("no controller {n} (1 to {})\n", controllers.len()),
            },
            ["show", "nmsp", "status"] => match self.selected {
                Some(i) => show_nmsp_status(&controllers[i]),
                None => show_all(controllers),
            },
            _ => format!("unknown command: {line} (try: controller N, show nmsp status)\n"),
        }
    }
}

/// Controller `n` (counted from 1) of `len`, as an index.
pub fn pick(n: &str, len: usize) -> Option<usize> {
    n.parse::<usize>()
        .ok()
        .filter(|n| (1..=len).contains(n))
        .map(|n| n - 1)
}
