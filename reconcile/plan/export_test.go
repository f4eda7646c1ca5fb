package plan

// Renames is renames, for checking that Compute leaves it out only when
// it would find nothing.
var Renames = renames
