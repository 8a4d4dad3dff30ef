//! The progress bar, owned here alone: whether one is shown, how it looks, and the few things
//! the console and the progress reporter do with it. With the `cli` feature it is an indicatif
//! bar on stderr, registered in the log writer's [`BarSlot`](super::term::BarSlot) so log
//! lines suspend it; without the feature there is never a bar, and `Bar` has no value.

use super::options::ReportOptions;

#[cfg(feature = "cli")]
pub(crate) use with_cli::Bar;
#[cfg(not(feature = "cli"))]
pub(crate) use without_cli::Bar;

#[cfg(feature = "cli")]
mod with_cli {
    use indicatif::{ProgressBar, ProgressStyle};

    use super::ReportOptions;
    use crate::report::options::ProgressMode;
    use crate::report::term::{self, BarSlot};

    /// A shown progress bar.
    #[derive(Clone)]
    pub(crate) struct Bar {
        bar: ProgressBar,
        slot: BarSlot,
    }

    impl Bar {
        /// The bar `options` ask for, registered for the log writer: shown when forced
        /// (`--progress`), or in auto mode when stderr is a terminal, `CI` is unset or empty,
        /// and JSON logs are not going to stderr (the bar would tear them up).
        pub fn wanted(options: &ReportOptions) -> Option<Bar> {
            let force = match options.progress {
                ProgressMode::Off => return None,
                ProgressMode::On => true,
                ProgressMode::Auto => {
                    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
                    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
                    if !tty || ci || options.json_logs_on_stderr {
                        return None;
                    }
                    false
                }
            };
            let bar = ProgressBar::with_draw_target(Some(1), term::draw_target(force));
            let template = if options.color {
                "{spinner:.cyan} {elapsed_precise} [{wide_bar:.cyan/blue}] {msg}"
            } else {
                "{spinner} {elapsed_precise} [{wide_bar}] {msg}"
            };
            let style = ProgressStyle::with_template(template)
                .expect("the template is valid")
                .progress_chars("=> ");
            bar.set_style(style);
            options.bar_slot.set(Some(bar.clone()));
            Some(Bar {
                bar,
                slot: options.bar_slot.clone(),
            })
        }

        /// Runs `f` (a write to our stdout or stderr) with the bar out of the way.
        pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
            if self.bar.is_hidden() {
                f()
            } else {
                self.bar.suspend(f)
            }
        }

        /// Shows `msg`, `done` of `total`.
        pub fn show(&self, msg: String, done: u64, total: u64) {
            // The message first: each setter may draw, and a frame without the counts (an
            // empty bar across the whole line) must never show.
            self.bar.set_message(msg);
            // A length of 0 would draw a full bar.
            self.bar.set_length(total.max(1));
            self.bar.set_position(done);
        }

        /// Shows `msg` alone.
        pub fn message(&self, msg: String) {
            self.bar.set_message(msg);
        }

        /// Moves the spinner and the elapsed time.
        pub fn tick(&self) {
            self.bar.tick();
        }

        /// Clears the bar for good.
        pub fn finish(self) {
            self.bar.finish_and_clear();
            self.slot.set(None);
        }
    }
}

#[cfg(not(feature = "cli"))]
mod without_cli {
    use super::ReportOptions;

    /// There is no bar without the `cli` feature.
    #[derive(Clone)]
    pub(crate) enum Bar {}

    impl Bar {
        pub fn wanted(_: &ReportOptions) -> Option<Bar> {
            None
        }
        pub fn suspend<R>(&self, _: impl FnOnce() -> R) -> R {
            match *self {}
        }
        pub fn show(&self, _: String, _: u64, _: u64) {
            match *self {}
        }
        pub fn message(&self, _: String) {
            match *self {}
        }
        pub fn tick(&self) {
            match *self {}
        }
        pub fn finish(self) {
            match self {}
        }
    }
}
