// npm run test:container: the container deploy, run for real with podman. Builds the
// stand-in base images when missing (base-images.sh), the service image from the
// Dockerfile, brings compose.yaml up under a project name of its own, posts the sample
// CSV, stops the stack with SIGTERM, starts it again and reads the rides back, then
// removes the containers, the volume and the network. The base images stay, and so does
// the service image: it is the layer cache that spares the next run the npm ci.
import { spawnSync, type SpawnSyncOptions } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";

const here = import.meta.dirname;
const repo = resolve(here, "../..");
const project = "rides-ingest-smoke";
const producerKey = "smoke-producer-key-0001";
const analystKey = "smoke-analyst-key-0001";
const debianPackages = ["podman", "podman-compose", "runc", "aardvark-dns", "debootstrap"];
const healthTimeoutMs = 120_000;
const jobTimeoutMs = 30_000;

const compose = readFileSync(join(repo, "compose.yaml"), "utf8");
// podman-compose 1.0 ignores stop_grace_period, so the stop below passes it to podman.
const gracePeriodSeconds = Number(/stop_grace_period:\s*(\d+)s/.exec(compose)?.[1]);
if (!Number.isInteger(gracePeriodSeconds)) throw new Error("compose.yaml: the app needs a stop_grace_period in seconds");

const sampleCsv = readFileSync(join(repo, "data/xrides-2013-sample.csv"), "utf8");
const sampleIds = sampleCsv.trim().split("\n").slice(1).map((line) => Number(line.split(",")[0]));

const env = {
  ...process.env,
  // podman's network helper runs iptables and debootstrap lives there: /usr/sbin, which a
  // user's PATH (kept by `sudo env PATH="$PATH"`) lacks.
  PATH: `${process.env.PATH}:/usr/sbin:/sbin`,
  CONTAINERS_CONF: process.env.CONTAINERS_CONF ?? join(here, "containers.conf"),
  // podman writes OCI images by default, which drop the Dockerfile's HEALTHCHECK.
  BUILDAH_FORMAT: "docker",
  API_KEYS: `${producerKey}:ingest,${analystKey}:read`,
  RIDES_HOST_PORT: process.env.RIDES_HOST_PORT ?? String(await freePort()),
};
const baseUrl = `http://127.0.0.1:${env.RIDES_HOST_PORT}`;
const containers = { postgres: `${project}_postgres_1`, app: `${project}_app_1` };
const serviceImage = `${project}_app`;

const startedAt = Date.now();
function step(title: string) {
  console.log(`\n== ${title} [${((Date.now() - startedAt) / 1000).toFixed(1)} s]`);
}
function saw(what: string) {
  console.log(`   ${what}`);
}

function run(command: string, args: string[], options: SpawnSyncOptions & { check?: boolean } = {}) {
  const result = spawnSync(command, args, { cwd: repo, env, encoding: "utf8", ...options });
  if (result.error) throw result.error;
  if (options.check !== false && result.status !== 0) {
    throw new Error(`${command} ${args.join(" ")} exited ${result.status}: ${String(result.stderr ?? "").trim()}`);
  }
  return { status: result.status, stdout: String(result.stdout ?? "").trim(), stderr: String(result.stderr ?? "").trim() };
}
const podman = (...args: string[]) => run("podman", args).stdout;
// podman-compose echoes every podman command it runs: its output is shown only when it fails.
const podmanCompose = (...args: string[]) => run("podman-compose", ["-p", project, ...args]);

function freePort() {
  return new Promise<number>((done, fail) => {
    const server = createServer().once("error", fail).listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

async function until<T>(what: string, timeoutMs: number, attempt: () => Promise<T | undefined> | T | undefined) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await attempt();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((wake) => setTimeout(wake, 500));
  }
}

// Without systemd podman schedules no health checks, so this runs the container's own
// check (compose.yaml's, or the Dockerfile's HEALTHCHECK) until it passes.
async function waitHealthy(container: string) {
  const started = Date.now();
  await until(`${container} healthy`, healthTimeoutMs, () => {
    const state = podman("inspect", "--format", "{{.State.Status}}", container);
    if (state === "exited") throw new Error(`${container} exited:\n${podman("logs", "--tail", "20", container)}`);
    return run("podman", ["healthcheck", "run", container], { check: false }).status === 0 ? true : undefined;
  });
  const health = podman("inspect", "--format", "{{.State.Health.Status}}", container);
  saw(`${container}: ${health} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

function createStack() {
  podmanCompose("up", "--no-start");
  const created = projectResources();
  saw(created.join(", "));
  expect(created.filter((resource) => resource.startsWith("container ")).length === 2, "podman-compose did not create both containers");
}

// The order of docker compose's depends_on condition service_healthy, which podman-compose 1.0 skips.
async function startStack() {
  podman("start", containers.postgres);
  await waitHealthy(containers.postgres);
  podman("start", containers.app);
  await waitHealthy(containers.app);
}

async function http(path: string, key: string, init: RequestInit = {}) {
  const response = await fetch(`${baseUrl}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${key}`, ...init.headers },
  });
  return { status: response.status, body: await response.json() };
}

function expect(condition: boolean, message: string) {
  if (!condition) throw new Error(message);
}

async function stopApp() {
  const started = Date.now();
  podman("stop", "--time", String(gracePeriodSeconds), containers.app);
  const seconds = (Date.now() - started) / 1000;
  const exitCode = Number(podman("inspect", "--format", "{{.State.ExitCode}}", containers.app));
  saw(`app stopped in ${seconds.toFixed(1)} s (grace ${gracePeriodSeconds} s), exit code ${exitCode}`);
  const logs = run("podman", ["logs", "--tail", exitCode === 0 ? "1" : "20", containers.app]);
  for (const line of `${logs.stdout}\n${logs.stderr}`.trim().split("\n")) saw(`app log: ${line}`);
  expect(exitCode === 0, `the service exited ${exitCode} on SIGTERM, not 0`);
  expect(seconds < gracePeriodSeconds, "the service needed the whole grace period: podman killed it");
}

function projectResources() {
  const label = `label=io.podman.compose.project=${project}`;
  return [
    ...podman("ps", "--all", "--format", "container {{.Names}}", "--filter", label).split("\n"),
    ...podman("volume", "ls", "--format", "volume {{.Name}}", "--filter", label).split("\n"),
    ...podman("network", "ls", "--format", "network {{.Name}}", "--filter", `name=^${project}_`).split("\n"),
  ].filter(Boolean);
}

function takeDown() {
  run("podman-compose", ["-p", project, "down", "--volumes"], { check: false });
  // podman-compose 1.0 leaves the network behind.
  run("podman", ["network", "rm", `${project}_default`], { check: false });
}

let cleanedUp = false;
function cleanUp() {
  if (cleanedUp) return;
  cleanedUp = true;
  step(`take the stack down and remove what it made (project ${project})`);
  takeDown();
  const left = projectResources();
  saw(left.length === 0 ? "no container, volume or network of the project is left" : `left behind: ${left.join(", ")}`);
  if (left.length > 0) process.exitCode = 1;
  const size = run("podman", ["image", "ls", "--format", "{{.Size}}", serviceImage], { check: false }).stdout;
  if (size) saw(`the service image stays as the next build's cache (podman rmi ${serviceImage} frees its ${size})`);
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping`);
    cleanUp();
    process.exit(130);
  });
}

try {
  step("Debian packages");
  const missing = debianPackages.filter(
    (name) => run("dpkg-query", ["-W", "-f", "${Status}", name], { check: false }).stdout !== "install ok installed",
  );
  if (missing.length > 0) {
    console.error(`missing Debian packages: ${missing.join(" ")}\ninstall them: sudo apt-get install -y ${missing.join(" ")}`);
    process.exit(1);
  }
  saw(`installed: ${debianPackages.join(", ")}; ${podman("--version")}`);

  step("stand-in base images (deploy/container/base-images.sh, built only when missing)");
  run("bash", [join(here, "base-images.sh")], { stdio: "inherit" });

  step("leftovers of an earlier run");
  const leftovers = projectResources();
  if (leftovers.length > 0) takeDown();
  saw(leftovers.length === 0 ? "none" : `removed ${leftovers.join(", ")}`);

  step("build the service image from the Dockerfile (compose.yaml's build: .)");
  const imageId = () => run("podman", ["image", "inspect", "--format", "{{.Id}}", serviceImage], { check: false }).stdout;
  const previousImage = imageId();
  // What podman-compose build runs, but podman-compose 1.0 exits 0 when the build fails.
  run("podman", ["build", "--tag", serviceImage, "--file", "Dockerfile", "."], { stdio: "inherit" });
  const builtImage = imageId();
  if (previousImage && previousImage !== builtImage) {
    run("podman", ["image", "rm", previousImage], { check: false, stdio: "ignore" });
    saw(`removed the image of the previous run, ${previousImage.slice(0, 12)}`);
  }
  saw(`image ${serviceImage}: ${builtImage.slice(0, 12)}, ${podman("image", "ls", "--format", "{{.Size}}", serviceImage)}`);
  const healthcheck = podman("image", "inspect", "--format", "{{json .Config.Healthcheck.Test}}", serviceImage);
  saw(`its HEALTHCHECK: ${healthcheck}`);
  expect(healthcheck !== "null", "the service image has no HEALTHCHECK");

  step(`create the stack (podman-compose up --no-start), host port ${env.RIDES_HOST_PORT}`);
  createStack();

  step("start PostgreSQL, wait for its health check, then the service and its health check");
  await startStack();
  saw(`user: ${podman("exec", containers.app, "id", "-un")}, PID 1: ${podman("exec", containers.app, "cat", "/proc/1/cmdline").replaceAll("\0", " ").trim()}`);

  step("without an API key");
  const anonymous = await http("/v1/rides/1", "");
  saw(`GET /v1/rides/1 -> ${anonymous.status}`);
  expect(anonymous.status === 401, "the service answered without a key");

  step("post data/xrides-2013-sample.csv with the producer's key");
  const posted = await http("/v1/rides", producerKey, {
    method: "POST",
    headers: { "content-type": "text/csv" },
    body: sampleCsv,
  });
  saw(`POST /v1/rides -> ${posted.status} ${JSON.stringify(posted.body)}`);
  expect(posted.status === 202 && posted.body.accepted === sampleIds.length, `expected 202 with ${sampleIds.length} accepted`);

  step("the job is done");
  const jobPath = `/v1/jobs/${posted.body.job_id}`;
  const job = await until("the job done", jobTimeoutMs, async () => {
    const { body } = await http(jobPath, producerKey);
    return body.status === "queued" ? undefined : body;
  });
  saw(`GET ${jobPath} -> ${JSON.stringify(job)}`);
  expect(job.status === "done" && job.stored === sampleIds.length, `expected done with ${sampleIds.length} stored`);

  step("a ride read back with the analyst's key");
  const ridePath = `/v1/rides/${sampleIds[0]}`;
  const ride = await http(ridePath, analystKey);
  saw(`GET ${ridePath} -> ${ride.status} ${JSON.stringify(ride.body)}`);
  expect(ride.status === 200 && ride.body.id === sampleIds[0], "the ride did not come back");

  step(`stop the stack: SIGTERM to the service (podman stop --time ${gracePeriodSeconds}), then PostgreSQL`);
  await stopApp();
  podman("stop", containers.postgres);
  saw(`postgres stopped, exit code ${podman("inspect", "--format", "{{.State.ExitCode}}", containers.postgres)}`);

  step("remove the containers, keep the volume (podman-compose down), create them again");
  podmanCompose("down");
  saw(`left: ${projectResources().join(", ")}`);
  const mountpoint = podman("volume", "inspect", "--format", "{{.Mountpoint}}", `${project}_pgdata`);
  const pgVersion = readFileSync(join(mountpoint, "18/docker/PG_VERSION"), "utf8").trim();
  saw(`volume ${project}_pgdata holds 18/docker, a PostgreSQL ${pgVersion} cluster`);
  createStack();

  step("start the stack again");
  await startStack();

  step("the rides are still there");
  const again = await http(jobPath, producerKey);
  saw(`GET ${jobPath} -> ${again.body.status}, stored ${again.body.stored}`);
  expect(again.body.status === "done" && again.body.stored === sampleIds.length, "the job changed across the restart");
  const sameRide = await http(ridePath, analystKey);
  expect(JSON.stringify(sameRide.body) === JSON.stringify(ride.body), `${ridePath} changed across the restart`);
  let found = 0;
  for (const id of sampleIds) if ((await http(`/v1/rides/${id}`, analystKey)).status === 200) found++;
  saw(`${ridePath} is unchanged; ${found} of the ${sampleIds.length} sample rides read back by id`);
  expect(found === sampleIds.length, "rides went missing across the restart");

  step("stop the stack again");
  await stopApp();
} catch (error) {
  console.error(`\nFAILED: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  cleanUp();
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(0);
  console.log(`\n${process.exitCode ? "container smoke FAILED" : "container smoke passed"} in ${seconds} s`);
}
