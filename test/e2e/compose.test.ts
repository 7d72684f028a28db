/**
 * docker-compose.yml, validated by a real compose implementation (docker compose v2 built by
 * e2e/tools/install.sh; `config` needs no engine): it parses, and the stack is what the README promises —
 * four services with pinned images, named published ports, every mounted file present in the repository
 * (the same files the native e2e run uses), Grafana provisioned and open to anonymous viewers.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './stack.js';

interface ComposePort {
  name?: string;
  target: number;
  published?: string;
}
interface ComposeVolume {
  type: string;
  source: string;
  target: string;
  read_only?: boolean;
}
interface ComposeService {
  image: string;
  command?: string[];
  ports?: ComposePort[];
  volumes?: ComposeVolume[];
  environment?: Record<string, string>;
  depends_on?: Record<string, unknown>;
}
interface ComposeProject {
  name: string;
  services: Record<string, ComposeService>;
}

let project: ComposeProject;

beforeAll(() => {
  const bin = execFileSync('bash', ['-c', 'source e2e/tools/paths.sh; echo "$COMPOSE_BIN"'], {
    cwd: ROOT,
    encoding: 'utf8',
  }).trim();
  if (!existsSync(bin)) throw new Error(`docker compose not found at ${bin}: run bash e2e/tools/install.sh`);
  // Validation errors make `config` exit non-zero, which fails here with compose's message.
  const out = execFileSync(bin, ['-f', join(ROOT, 'docker-compose.yml'), 'config', '--format', 'json'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, DOCKER_CONFIG: join(ROOT, '.tmp', 'docker-config') },
  });
  project = JSON.parse(out) as ComposeProject;
});

describe('docker-compose.yml (validated by docker compose config)', () => {
  it('defines the collector, Jaeger, Prometheus and Grafana with pinned image tags', () => {
    expect(Object.keys(project.services).sort()).toEqual([
      'grafana',
      'jaeger',
      'otel-collector',
      'prometheus',
    ]);
    for (const [name, service] of Object.entries(project.services)) {
      expect(service.image, name).toMatch(/^[\w./-]+:v?\d+\.\d+\.\d+$/);
    }
    expect(project.services['otel-collector']?.image).toMatch(/^otel\/opentelemetry-collector-contrib:/);
    expect(project.services.jaeger?.image).toMatch(/^jaegertracing\/jaeger:2\./);
  });

  it('publishes named ports: OTLP, the Jaeger, Prometheus and Grafana UIs', () => {
    const published = Object.values(project.services).flatMap((s) => s.ports ?? []);
    for (const port of published) expect(port.name, JSON.stringify(port)).toBeTruthy();
    expect(published.map((p) => Number(p.published)).sort((a, b) => a - b)).toEqual(
      expect.arrayContaining([3000, 4317, 4318, 9090, 16686]),
    );
  });

  it('mounts only files that exist in the repository, the same ones the native e2e run uses', () => {
    const mounts = Object.values(project.services).flatMap((s) => s.volumes ?? []);
    const sources = mounts.map((m) => relative(ROOT, m.source)).sort();
    expect(sources).toEqual(
      [
        'dashboards',
        'grafana/provisioning',
        'otel-collector.yaml',
        'stack/jaeger.yaml',
        'stack/prometheus.yml',
        'stack/targets',
      ].sort(),
    );
    for (const mount of mounts) {
      expect(mount.type).toBe('bind');
      expect(mount.read_only).toBe(true);
      expect(existsSync(mount.source), mount.source).toBe(true);
    }
    expect(existsSync(join(ROOT, 'grafana/provisioning/datasources'))).toBe(true);
    expect(existsSync(join(ROOT, 'grafana/provisioning/dashboards'))).toBe(true);
  });

  it('provisions Grafana for anonymous viewers, and starts services after what they depend on', () => {
    const grafana = project.services.grafana;
    expect(grafana?.environment?.GF_AUTH_ANONYMOUS_ENABLED).toBe('true');
    expect(grafana?.environment?.GF_AUTH_ANONYMOUS_ORG_ROLE).toBe('Viewer');
    expect(Object.keys(grafana?.depends_on ?? {}).sort()).toEqual(['jaeger', 'prometheus']);
    expect(Object.keys(project.services['otel-collector']?.depends_on ?? {})).toEqual(['jaeger']);
  });
});
