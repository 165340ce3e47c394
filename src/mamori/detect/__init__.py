"""Detection: Sigma rules parsed with pySigma, evaluated by mamori's own engine over ECS events.

- :mod:`mamori.detect.rules` loads rules from files and directories (bad rules become
  :class:`~mamori.detect.rules.LoadProblem` values, never stop the others);
- :mod:`mamori.detect.ecs` maps Sigma field names and logsources to ECS;
- :mod:`mamori.detect.compile` turns a rule's detection into Python closures;
- :mod:`mamori.detect.engine` runs compiled rules over events.
"""
