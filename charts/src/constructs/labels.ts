/** Labels every operator object carries; the Deployment's selector uses `selectorLabels`. */
export function selectorLabels(name: string): Record<string, string> {
  return { 'app.kubernetes.io/name': name, 'app.kubernetes.io/component': 'operator' };
}

export function commonLabels(name: string, version: string): Record<string, string> {
  return {
    ...selectorLabels(name),
    'app.kubernetes.io/part-of': 'novapos-security',
    'app.kubernetes.io/version': version,
  };
}
