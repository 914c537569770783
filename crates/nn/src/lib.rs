//! graft-nn: under construction in its own issue.
