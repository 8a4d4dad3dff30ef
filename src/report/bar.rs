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
    use std::sync::{Arc, Mutex};

    use indicatif::{ProgressBar, ProgressStyle};

    use super::ReportOptions;
    use crate::report::bar_layout::{BarParts, layout};
    use crate::report::options::ProgressMode;
    use crate::report::term::{self, BarSlot, BarState};

    /// A shown progress bar.
    #[derive(Clone)]
    pub(crate) struct Bar {
        bar: ProgressBar,
        slot: BarSlot,
        state: Arc<BarState>,
        color: bool,
        shown: Arc<Mutex<Shown>>,
    }

    /// What was last drawn, to lay it out again when the width changes.
    #[derive(Default)]
    struct Shown {
        parts: Option<BarParts>,
        width: usize,
        template: String,
    }

    impl Bar {
        /// The bar `options` ask for, registered for the log writer: shown when forced
        /// (`--progress`), or in auto mode when stderr is a terminal, `CI` is unset or empty,
        /// JSON logs are not going to stderr (the bar would tear them up), and the input is
        /// not read from the terminal (the user is typing there).
        pub fn wanted(options: &ReportOptions) -> Option<Bar> {
            match options.progress {
                ProgressMode::Off => return None,
                ProgressMode::On => {}
                ProgressMode::Auto => {
                    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
                    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
                    if !tty || ci || options.json_logs_on_stderr || options.input_from_terminal {
                        return None;
                    }
                }
            }
            let (target, state) = term::draw_target();
            let bar = ProgressBar::with_draw_target(Some(1), target);
            options.bar_slot.set(Some((bar.clone(), state.clone())));
            Some(Bar {
                bar,
                slot: options.bar_slot.clone(),
                state,
                color: options.color,
                shown: Default::default(),
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

        /// Draws nothing while `parked` (a job's output left a line open on the screen: a bar
        /// drawn after it would be cleared with it).
        pub fn park(&self, parked: bool) {
            self.state.park(parked);
        }

        /// Shows `parts`, laid out for the terminal's width.
        pub fn show(&self, parts: BarParts) {
            let mut shown = self.shown.lock().expect("bar users never panic");
            shown.parts = Some(parts);
            self.render(&mut shown);
        }

        fn render(&self, shown: &mut Shown) {
            let Some(parts) = &shown.parts else { return };
            let width = self.state.width();
            let l = layout(parts, width, self.color);
            // The style and message first: each setter may draw, and a frame without the
            // counts (an empty bar across the whole line) must never show.
            if l.template != shown.template {
                let style = ProgressStyle::with_template(&l.template)
                    .expect("the layout's templates are valid")
                    .progress_chars("=> ");
                self.bar.set_style(style);
                shown.template = l.template;
            }
            self.bar.set_message(l.message);
            if let Some(total) = parts.total {
                // A length of 0 would draw a full bar.
                self.bar.set_length(total.max(1));
                self.bar.set_position(parts.done);
            }
            shown.width = width;
        }

        /// Moves the spinner and the elapsed time, laid out again if the width changed.
        pub fn tick(&self) {
            let mut shown = self.shown.lock().expect("bar users never panic");
            if shown.width != self.state.width() {
                self.render(&mut shown);
            }
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
        pub fn show(&self, _: crate::report::bar_layout::BarParts) {
            match *self {}
        }
        pub fn park(&self, _: bool) {
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
