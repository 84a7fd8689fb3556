import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../ports.js';
import { ManagedProcess } from '../process.js';

export interface AlertmanagerInstance {
  readonly url: string;
  readonly port: number;
  readonly configFile: string;
  readonly process: ManagedProcess;
}

async function ready(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/-/ready`)).ok;
  } catch {
    return false;
  }
}

/** Alertmanager alone (`--cluster.listen-address=` turns clustering off) on loopback. */
export async function startAlertmanager(
  dir: string,
  config: Record<string, unknown>,
): Promise<AlertmanagerInstance> {
  const home = path.join(dir, 'alertmanager');
  mkdirSync(path.join(home, 'data'), { recursive: true });
  const configFile = path.join(home, 'alertmanager.yml');
  writeFileSync(configFile, stringify(config));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = await ManagedProcess.start(
    {
      name: 'alertmanager',
      command: 'prometheus-alertmanager',
      args: [
        `--config.file=${configFile}`,
        `--storage.path=${path.join(home, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--cluster.listen-address=',
        '--log.level=warn',
      ],
      ready: () => ready(url),
    },
    path.join(dir, 'logs'),
  );
  return { url, port, configFile, process: proc };
}

export async function reloadAlertmanager(
  instance: AlertmanagerInstance,
  config: Record<string, unknown>,
): Promise<void> {
  writeFileSync(instance.configFile, stringify(config));
  const res = await fetch(`${instance.url}/-/reload`, { method: 'POST' });
  if (!res.ok) throw new Error(`alertmanager reload: ${res.status} ${await res.text()}`);
}
