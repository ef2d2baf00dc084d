# Doxygen INPUT_FILTER for the public headers (Doxyfile.in, docs/install.md "API reference").
# The headers use plain C comments, written for people reading the header; this turns them into
# Doxygen comments on the fly, without changing the headers:
#   - the comment that opens a header becomes the file's description (@file);
#   - a comment that starts a line documents the declaration after it (/** ... */), except the
#     section rulers "/* ---- Title ----" and "/* ==== Title ====", which stay plain;
#   - a comment after code on the same line documents that code: enum values, struct members,
#     short declarations (/**< ... */).
# Lines are only rewritten, never added or removed except on line 1, so Doxygen's warnings name
# the header's own line numbers from line 2 on (plus one).
1s|^/\* |/** @file\n * |
2,$s|^\([[:space:]]*\)/\* \([^-=]\)|\1/** \2|
2,$s|\([^[:space:]/*]\)\([[:space:]]\{1,\}\)/\* |\1\2/**< |
# The comments are text, not Doxygen markup: a C character '\r' is not a command (Doxygen leaves
# quoted strings alone), and <word> (a placeholder such as src/sde/<name>.c) is not an HTML tag.
s|'\\\([A-Za-z]\)'|'\\\\\1'|g
s|<\([A-Za-z_]*\)>|\&lt;\1\&gt;|g
