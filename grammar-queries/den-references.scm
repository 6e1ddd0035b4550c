; References to den names that rules check without evaluating anything.
; The extractor reads each capture's attribute path itself.

; A selection from the den module argument, directly or through config:
;   den.aspects.igloo   config.den.stages   den.lib.parametric.atLeast
(select_expression
  expression: (variable_expression
    name: (identifier) @reference.root
    (#any-of? @reference.root "den" "config"))
  attrpath: (attrpath) @reference.path) @reference

; A host's delivered children, the removed D-era host attribute:
;   host.deliveredChildren
(select_expression
  expression: (variable_expression
    name: (identifier) @reference.root)
  attrpath: (attrpath
    .
    attr: (identifier) @reference.first
    (#eq? @reference.first "deliveredChildren")) @reference.path) @reference

; Names taken out of a den path:   inherit (den.lib) parametric take;
(inherit_from
  expression: (select_expression
    expression: (variable_expression
      name: (identifier) @inherit.root
      (#any-of? @inherit.root "den" "config"))) @inherit.source
  attrs: (inherited_attrs) @inherit.attrs) @inherit

; An angle-bracket path, which den resolves through __findFile:
;   <den/hostname>   <eg/ci-no-boot>
(spath_expression) @bracket

; A call of den's forward battery (or an alias) with a literal spec:
;   den.batteries.forward { fromClass = ...; intoClass = ...; }
(apply_expression
  function: (select_expression
    attrpath: (attrpath
      attr: (identifier) @forward.name .)
    (#eq? @forward.name "forward")) @forward.function
  argument: (_) @forward.spec) @forward

; A namespace declaration:   inputs.den.namespace "eg" true
(apply_expression
  function: (apply_expression
    function: (select_expression
      attrpath: (attrpath
        attr: (identifier) @namespace.fn .)
      (#eq? @namespace.fn "namespace"))
    argument: (_) @namespace.name)
  argument: (_) @namespace.sources) @namespace
