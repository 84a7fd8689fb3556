import { parser } from '@prometheus-io/lezer-promql';

export interface PromqlSyntaxError {
  readonly from: number;
  readonly to: number;
  /** The expression with the error position marked. */
  readonly context: string;
}

/**
 * Syntax errors the PromQL grammar (the one Prometheus' own UI uses) finds in an expression; empty when it
 * parses. The grammar recovers from errors, so an invalid expression shows up as error nodes in the tree.
 */
export function promqlSyntaxErrors(expr: string): PromqlSyntaxError[] {
  const errors: PromqlSyntaxError[] = [];
  parser.parse(expr).iterate({
    enter(node) {
      if (node.type.isError) {
        errors.push({
          from: node.from,
          to: node.to,
          context: `${expr.slice(0, node.from)}⟨here⟩${expr.slice(node.from)}`,
        });
      }
    },
  });
  return errors;
}
