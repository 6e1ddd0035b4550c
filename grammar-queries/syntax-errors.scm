; Places where the file is not valid Nix. The syntax layer turns each capture
; into one problem; nested captures are dropped there, so only the outermost
; error of a region is reported.

; Text the parser could not fit into any expression and skipped to recover,
; for example the stray `)` in `f x)` or the `=` in `{ a = 1 b = 2; }`.
(ERROR) @syntax.error

; A token the parser assumed in order to recover. It has no width and stands
; where the token is missing, for example the `;` in `{ inherit x }` or the
; `}` at the end of `{ a = 1;`.
(MISSING) @syntax.missing
