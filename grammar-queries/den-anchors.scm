; Anchors that make a file worth reading for den facts. The extractor runs
; this query first and skips files without a match, so that non-den Nix
; (a nixpkgs checkout, say) costs only the parse.

; A binding whose attribute path starts at `den` or `config`:
;   den.schema.guest.isolated = true;   config.den.policies.x = ...;
(binding
  attrpath: (attrpath
    .
    attr: (identifier) @anchor.root
    (#any-of? @anchor.root "den" "config")))

; A reference to the `den` module argument: den.lib.policy.route, den.policies.x
(variable_expression
  name: (identifier) @anchor.den
  (#eq? @anchor.den "den"))
