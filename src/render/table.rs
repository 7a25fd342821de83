//! Terminal tables (comfy-table), one look for every command.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};

/// A table with the project's style. `wrap` lets comfy-table fit the terminal width (only
/// on a terminal: piped output keeps whole lines).
pub fn new(headers: &[&str], wrap: bool) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED.with_rounded_corners());
    t.set_content_arrangement(if wrap {
        ContentArrangement::Dynamic
    } else {
        ContentArrangement::Disabled
    });
    t.set_header(headers.iter().map(|h| Cell::new(*h)));
    t
}

/// Right-aligns the given columns (numbers).
pub fn align_right(t: &mut Table, columns: impl IntoIterator<Item = usize>) {
    for c in columns {
        if let Some(col) = t.column_mut(c) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
}
