//! Model text made into styled terminal lines, shared by the full-screen interface (`tui`) and
//! `ask` on a terminal (`cli`), and owned by neither: the markdown renderer, syntax colour for
//! its code blocks, line wrapping, an answer's sources, and the theme whose styles they use.
//! Nothing here writes to the terminal or produces escape codes; every piece of text is
//! sanitized on the way in.

pub mod highlight;
pub mod markdown;
pub mod sources;
pub mod theme;
pub mod wrap;
