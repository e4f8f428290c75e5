//! `keepwatch tui`: the interactive dashboard (ratatui + crossterm).
//!
//! Elm architecture: a [`Model`] (plain data), [`Msg`]s, a pure
//! [`update`](update::update) and a [`view`](view::view) that draws from the
//! model only; [`layout`] holds what both need (the frame's rows, the panes'
//! line counts) without drawing. [`app::run`] is the event loop; it takes the terminal backend,
//! the input events and the data feed as parameters, so tests drive the whole
//! app with ratatui's `TestBackend` and scripted events. This module is the
//! only one that touches the terminal. See docs/tui.md.

pub mod app;
pub mod input;
pub mod layout;
pub mod model;
pub mod update;
pub mod view;

pub use app::{
    run, run_terminal, EventSource, Feed, LiveFeed, NoFeed, RunOptions, ScriptedEvents,
    ScriptedFeed,
};
pub use model::{LiveUpdate, Model, View};
pub use update::{update, Msg};
