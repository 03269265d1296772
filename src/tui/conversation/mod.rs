//! The conversation view beside the overlays: a tab's state ([`tab`]), the prompt being
//! written ([`composer`]), the cells its messages are drawn as ([`cells`], the tool calls and
//! results in [`tools`]), and what it does with prompts and answers ([`turns`]).

pub mod cells;
pub mod composer;
pub mod tab;
pub mod tools;
pub mod turns;
