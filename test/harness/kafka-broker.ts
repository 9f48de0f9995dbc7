/**
 * Test harness: a real Apache Kafka broker for integration tests.
 *
 * startKafkaBroker() runs one single-node KRaft broker (broker and controller in one JVM) from the
 * Maven Central jars that test/harness/kafka/pom.xml fetches into test/harness/kafka/lib, or, when
 * KAFKA_BROKERS is set, hands back those brokers and starts nothing.
 *
 * Guarantees:
 * - the broker listens on 127.0.0.1 only, on free ports, with its data in a fresh temp dir;
 * - startKafkaBroker() resolves only once a kafkajs admin client can describe the cluster, and
 *   otherwise rejects (within START_TIMEOUT_MS) with the tail of the broker's log in the message;
 * - stop() can be called any number of times: it ends the JVM (SIGTERM, then SIGKILL), waits for it
 *   to exit and removes the temp dir;
 * - the JVM does not outlive this process: it is SIGKILLed on process 'exit', and where setpriv(1)
 *   exists the kernel also kills it if this process dies without running exit handlers.
 *
 * ensureKafkaJars() fetches the jars (at most one fetch at a time, across processes) unless lib/
 * already holds exactly the set Maven resolved; CI calls the same Maven command up front.
 *
 * uniqueTopics() names a test's own bus topics on the shared broker; deleteTopics() removes them
 * in its teardown.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel } from 'kafkajs';
import { closedPromise, killOnExit, runToExit, terminate, type ProcessResult } from './child-processes.js';
import { uniqueName } from './unique-name.js';

export interface KafkaBroker {
  /**
   * Stops the broker (SIGTERM, as an operator would) and keeps its data and ports, so `restart`
   * brings the same broker back. Only for a broker this harness started.
   */
  halt?(): Promise<void>;
  /** Starts a halted broker again, on the same ports with the same data; resolves when it serves. */
  restart?(): Promise<void>;
  /** host:port bootstrap addresses, ready for `new Kafka({ brokers })`. */
  brokers: string[];
  stop(): Promise<void>;
}

export interface StartKafkaBrokerOptions {
  /** Start a broker of its own even when KAFKA_BROKERS names one (a test that stops its broker). */
  own?: boolean;
  /**
   * Where the broker's log files go. They are kept after stop(). By default they live in the
   * broker's temp dir and are removed with it.
   */
  logDir?: string;
}

const HOST = '127.0.0.1';
/** test/harness/kafka in the source tree, also when this module runs compiled from dist/ (the benchmark). */
const HARNESS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)).replace(/([\\/])dist([\\/]test[\\/]harness)$/, '$2'), 'kafka');
const LIB_DIR = path.join(HARNESS_DIR, 'lib');
/** Written by `dependency:list` after `dependency:copy-dependencies`: its presence marks a finished copy. */
const DEPENDENCY_LIST = path.join(LIB_DIR, 'dependencies.txt');
/** target/ is git-ignored, like lib/. */
const FETCH_LOCK_DIR = path.join(HARNESS_DIR, 'target', 'fetch.lock');

/** The one Maven command that fills lib/; .ci/run runs the same one from the repo root. */
const MVN_ARGS = [
  '-q',
  '-B',
  '-f',
  'pom.xml',
  'dependency:copy-dependencies',
  'dependency:list',
  '-DincludeScope=runtime',
  '-DoutputDirectory=lib',
  '-DoutputFile=lib/dependencies.txt',
];

const MVN_TIMEOUT_MS = 10 * 60_000;
const FETCH_LOCK_WAIT_MS = MVN_TIMEOUT_MS + 60_000;
const START_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 5_000;
const START_ATTEMPTS = 3;

// ---------------------------------------------------------------------------------------------
// Jars

let jarsReady: Promise<string> | undefined;

/** Makes sure lib/ holds the broker's jars, fetching them with Maven if needed; returns lib/. */
export function ensureKafkaJars(): Promise<string> {
  jarsReady ??= fetchJarsIfNeeded().catch((err: unknown) => {
    jarsReady = undefined; // let a later call try again
    throw err;
  });
  return jarsReady;
}

async function fetchJarsIfNeeded(): Promise<string> {
  if (await libIsComplete()) return LIB_DIR;
  return withDirLock(FETCH_LOCK_DIR, FETCH_LOCK_WAIT_MS, async () => {
    // Another process may have finished the fetch while we waited for the lock.
    if (await libIsComplete()) return LIB_DIR;
    // Start clean: jars of another Kafka version left on the `lib/*` classpath would clash.
    await fs.rm(LIB_DIR, { recursive: true, force: true });
    await runMaven();
    if (!(await libIsComplete())) {
      throw new Error(`Maven finished but ${LIB_DIR} does not hold the jars listed in ${DEPENDENCY_LIST}`);
    }
    return LIB_DIR;
  });
}

/**
 * lib/ is usable when Maven's dependency list is newer than the pom and names exactly the jars
 * in lib/ (a version bump in the pom, an interrupted copy or stray jars all fail this).
 */
async function libIsComplete(): Promise<boolean> {
  let listing: string;
  try {
    const [list, pom] = await Promise.all([fs.stat(DEPENDENCY_LIST), fs.stat(path.join(HARNESS_DIR, 'pom.xml'))]);
    if (list.mtimeMs < pom.mtimeMs) return false;
    listing = await fs.readFile(DEPENDENCY_LIST, 'utf8');
  } catch {
    return false;
  }
  const expected = jarNamesFromDependencyList(listing);
  if (expected.size === 0) return false;
  const present = new Set((await fs.readdir(LIB_DIR)).filter((name) => name.endsWith('.jar')));
  return present.size === expected.size && [...expected].every((name) => present.has(name));
}

/**
 * Turns `dependency:list` lines such as
 *   "   org.apache.kafka:kafka-clients:jar:4.4.0:compile -- module kafka.clients (auto)"
 *   "   g:a:jar:classifier:version:runtime"
 * into the file names copy-dependencies gives them: artifactId-version[-classifier].type.
 */
function jarNamesFromDependencyList(listing: string): Set<string> {
  const names = new Set<string>();
  for (const line of listing.split('\n')) {
    const coords = line.trim().split(/\s/)[0] ?? '';
    const parts = coords.split(':');
    if (parts.length !== 5 && parts.length !== 6) continue;
    const [, artifactId, type] = parts;
    const version = parts[parts.length - 2];
    const classifier = parts.length === 6 ? `-${parts[3]}` : '';
    if (type !== 'jar') continue;
    names.add(`${artifactId}-${version}${classifier}.jar`);
  }
  return names;
}

async function runMaven(): Promise<void> {
  let result: ProcessResult;
  try {
    result = await runToExit('mvn', MVN_ARGS, { cwd: HARNESS_DIR, timeoutMs: MVN_TIMEOUT_MS });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    throw new Error(
      'Maven (mvn) is not on PATH: install Maven 3.6+ and a JDK 17+ to run the Kafka test broker, ' +
        'or set KAFKA_BROKERS=host:port to use a broker that is already running',
    );
  }
  if (result.code !== 0) {
    throw new Error(
      `fetching the Kafka jars failed: \`mvn ${MVN_ARGS.join(' ')}\` in ${HARNESS_DIR} exited with ${result.code ?? 'a signal'}\n` +
        tail(result.output, 40),
    );
  }
}

/**
 * Runs fn while holding a lock directory (mkdir is atomic). A lock whose owner process is gone is
 * taken over, so a killed fetch does not block later runs.
 */
async function withDirLock<T>(lockDir: string, waitMs: number, fn: () => Promise<T>): Promise<T> {
  await fs.mkdir(path.dirname(lockDir), { recursive: true });
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      await fs.mkdir(lockDir);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (await lockIsStale(lockDir)) {
      await fs.rm(lockDir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for the lock ${lockDir}`);
    await sleep(500);
  }
  try {
    await fs.writeFile(path.join(lockDir, 'owner'), `${process.pid}\n`);
    return await fn();
  } finally {
    await fs.rm(lockDir, { recursive: true, force: true });
  }
}

async function lockIsStale(lockDir: string): Promise<boolean> {
  try {
    const pid = Number.parseInt(await fs.readFile(path.join(lockDir, 'owner'), 'utf8'), 10);
    if (!Number.isInteger(pid) || pid <= 0) return false;
    process.kill(pid, 0); // throws ESRCH once the owner is gone
    return false;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') return true;
    if (code === 'ENOENT') {
      // No owner file: either the owner is between mkdir and writeFile, or it died right there.
      const stat = await fs.stat(lockDir).catch(() => undefined);
      return stat !== undefined && Date.now() - stat.mtimeMs > 30_000;
    }
    return false; // EPERM: the pid exists but belongs to someone else
  }
}

// ---------------------------------------------------------------------------------------------
// Topics of a test

/** The topics of a chainwatch bus (`bus.topics`), each `<prefix>.<role>` made unique within this run. */
export function uniqueTopics(prefix: string): { spans: string; logs: string; findings: string; edges: string; alerts: string } {
  return {
    spans: uniqueName(`${prefix}.spans`),
    logs: uniqueName(`${prefix}.logs`),
    findings: uniqueName(`${prefix}.findings`),
    edges: uniqueName(`${prefix}.edges`),
    alerts: uniqueName(`${prefix}.alerts`),
  };
}

/** Deletes a test's topics, as a teardown does: best effort, an error (a topic never created, say) is ignored. */
export async function deleteTopics(brokers: string[], names: string[]): Promise<void> {
  const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.deleteTopics({ topics: names }).catch(() => {});
  await admin.disconnect();
}

// ---------------------------------------------------------------------------------------------
// Broker

/** Returns a running broker: the one(s) named by KAFKA_BROKERS, or a fresh local one. */
export async function startKafkaBroker(opts: StartKafkaBrokerOptions = {}): Promise<KafkaBroker> {
  const external = process.env['KAFKA_BROKERS'];
  if (!opts.own && external !== undefined && external.trim() !== '') {
    const brokers = external
      .split(',')
      .map((b) => b.trim())
      .filter((b) => b !== '');
    return { brokers, stop: async () => {} };
  }

  const libDir = await ensureKafkaJars();
  // Free ports are found by binding port 0 and letting go of it, so another process can take one
  // before the JVM binds it; such a start is retried on new ports.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startLocalBroker(libDir, opts);
    } catch (err) {
      if (!(err instanceof PortClashError) || attempt >= START_ATTEMPTS) throw err;
    }
  }
}

class PortClashError extends Error {}

async function startLocalBroker(libDir: string, opts: StartKafkaBrokerOptions): Promise<KafkaBroker> {
  const [port, controllerPort] = await freeLoopbackPorts(2);
  if (port === undefined || controllerPort === undefined) throw new Error('could not find free ports');
  const brokerAddress = `${HOST}:${port}`;

  const tempDir = await fs.mkdtemp(path.join(os.tmpdir(), 'chainwatch-kafka-'));
  const logDir = opts.logDir ?? tempDir;
  await fs.mkdir(logDir, { recursive: true });
  const logFile = path.join(logDir, `kafka-broker-${port}.log`);
  const outFile = path.join(logDir, `kafka-broker-${port}.out`); // JVM stdout/stderr
  const configFile = path.join(tempDir, 'server.properties');
  const log4jFile = path.join(tempDir, 'log4j.properties');
  const log4j2File = path.join(tempDir, 'log4j2.properties');

  await fs.writeFile(configFile, serverProperties({ port, controllerPort, dataDir: path.join(tempDir, 'data') }));
  await fs.writeFile(log4jFile, log4jProperties(logFile));
  await fs.writeFile(log4j2File, log4j2Properties(logFile));

  // Kafka 3.x logs through log4j 1 (reload4j), 4.x through log4j2; each reads only its own
  // property, so both are set and the pom alone decides the version.
  const jvmArgs = [
    '-Djava.awt.headless=true',
    `-Dlog4j.configuration=${pathToFileURL(log4jFile).href}`,
    `-Dlog4j2.configurationFile=${log4j2File}`,
    '-cp',
    path.join(libDir, '*'),
  ];

  /** The running JVM: its process, when it has closed, and its release from the exit hook. */
  let live: { child: ChildProcess; closed: Promise<void>; release: () => void } | undefined;
  const halt = async (): Promise<void> => {
    if (live === undefined) return;
    await terminate(live.child, live.closed, STOP_GRACE_MS);
    live.release();
    live = undefined;
  };
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await halt();
      await fs.rm(tempDir, { recursive: true, force: true, maxRetries: 3 });
    })();
    return stopping;
  };

  const launch = async (): Promise<void> => {
    const outFd = openSync(outFile, 'a');
    let child: ChildProcess;
    try {
      child = spawnGuarded(javaBinary(), ['-Xms128m', '-Xmx512m', ...jvmArgs, 'kafka.Kafka', configFile], {
        stdio: ['ignore', outFd, outFd],
      });
    } finally {
      closeSync(outFd); // the child holds its own copy
    }
    live = { child, closed: closedPromise(child), release: killOnExit(child, tempDir) };
    const deadline = Date.now() + START_TIMEOUT_MS;
    await waitUntilReady(child, port, brokerAddress, deadline);
    await warmUpCoordinators(brokerAddress, deadline);
  };

  try {
    await formatStorage(jvmArgs, configFile, outFile);
    await launch();
    return { brokers: [brokerAddress], stop, halt, restart: launch };
  } catch (err) {
    const where = (file: string) => (opts.logDir === undefined ? `${path.basename(file)}, removed with the temp dir` : file);
    const logs =
      `--- broker log (${where(logFile)}) ---\n${await fileTail(logFile, 60)}\n` +
      `--- JVM stdout/stderr (${where(outFile)}) ---\n${await fileTail(outFile, 20)}`;
    await stop();
    const message = `Kafka broker on ${brokerAddress} did not start: ${(err as Error).message}\n${logs}`;
    throw /BindException|Address already in use/.test(logs) ? new PortClashError(message) : new Error(message);
  }
}

function serverProperties(p: { port: number; controllerPort: number; dataDir: string }): string {
  return [
    '# Written by test/harness/kafka-broker.ts: a throwaway single-node KRaft broker on loopback.',
    'process.roles=broker,controller',
    'node.id=1',
    // A static quorum (the voter set is in the config), so `format` needs no --standalone.
    `controller.quorum.voters=1@${HOST}:${p.controllerPort}`,
    `listeners=PLAINTEXT://${HOST}:${p.port},CONTROLLER://${HOST}:${p.controllerPort}`,
    `advertised.listeners=PLAINTEXT://${HOST}:${p.port}`,
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    `log.dirs=${p.dataDir}`,
    'num.partitions=1',
    'default.replication.factor=1',
    'auto.create.topics.enable=false',
    'group.initial.rebalance.delay.ms=0',
    // Internal topics: one replica (there is one broker) and few partitions, so the first consumer
    // group or producer id does not wait for 50 coordinator partitions to load.
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    // Test data is small; keep segments small too.
    'log.segment.bytes=8388608',
    '',
  ].join('\n');
}

/** Broker logs go to a file, never to the test output: log4j 1.x (reload4j) form, for Kafka 3.x. */
function log4jProperties(logFile: string): string {
  return [
    'log4j.rootLogger=INFO, file',
    'log4j.appender.file=org.apache.log4j.FileAppender',
    `log4j.appender.file.File=${logFile}`,
    'log4j.appender.file.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n',
    '',
  ].join('\n');
}

/** The same in log4j2 form, for Kafka 4.x. */
function log4j2Properties(logFile: string): string {
  return [
    'status = warn',
    'appender.file.type = File',
    'appender.file.name = FILE',
    `appender.file.fileName = ${logFile}`,
    'appender.file.layout.type = PatternLayout',
    'appender.file.layout.pattern = [%d] %p %m (%c)%n',
    'rootLogger.level = INFO',
    'rootLogger.appenderRef.file.ref = FILE',
    '',
  ].join('\n');
}

/** Formats the KRaft metadata and data dirs with a new random cluster id. */
async function formatStorage(jvmArgs: string[], configFile: string, outFile: string): Promise<void> {
  const args = ['-Xmx256m', ...jvmArgs, 'kafka.tools.StorageTool', 'format', '--cluster-id', randomClusterId(), '--config', configFile];
  let result: ProcessResult;
  try {
    result = await runToExit(javaBinary(), args, { timeoutMs: 60_000 });
  } catch (err) {
    throw new Error(`could not run ${javaBinary()} (a JDK 17+ is needed): ${(err as Error).message}`);
  }
  await fs.appendFile(outFile, result.output);
  if (result.code !== 0) {
    throw new Error(`kafka.tools.StorageTool format exited with ${result.code ?? 'a signal'}:\n${tail(result.output, 20)}`);
  }
}

/** A Kafka Uuid string: 16 random bytes, URL-safe base64 without padding, never starting with '-'. */
function randomClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

function javaBinary(): string {
  const javaHome = process.env['JAVA_HOME'];
  return javaHome ? path.join(javaHome, 'bin', 'java') : 'java';
}

let setprivHasPdeathsig: boolean | undefined;

/**
 * Spawns command so that it dies with this process: through `setpriv --pdeathsig KILL` when
 * util-linux's setpriv is there (the kernel then SIGKILLs it even if this process is SIGKILLed),
 * plainly otherwise (the 'exit' hook still covers normal exits). setpriv execs the command, so the
 * child's pid is the command's own.
 */
function spawnGuarded(command: string, args: string[], options: SpawnOptions): ChildProcess {
  setprivHasPdeathsig ??=
    process.platform === 'linux' && /--pdeathsig/.test(spawnSync('setpriv', ['--help'], { encoding: 'utf8' }).stdout ?? '');
  return setprivHasPdeathsig
    ? spawn('setpriv', ['--pdeathsig', 'KILL', command, ...args], options)
    : spawn(command, args, options);
}

async function waitUntilReady(child: ChildProcess, port: number, brokerAddress: string, deadline: number): Promise<void> {
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = `the broker process exited (${signal ?? `code ${code}`})`));
  child.once('error', (err) => (exited = `the broker process failed: ${err.message}`));

  const kafka = new Kafka({
    clientId: 'chainwatch-test-harness',
    brokers: [brokerAddress],
    logLevel: logLevel.NOTHING, // refused connections while the JVM starts are expected
    connectionTimeout: 1_000,
    retry: { retries: 0 },
  });
  let lastError = 'the broker port never opened';
  while (Date.now() < deadline) {
    if (exited !== undefined) throw new Error(exited);
    if (await portIsOpen(port)) {
      const admin = kafka.admin();
      try {
        await admin.connect();
        const cluster = await admin.describeCluster();
        if (cluster.brokers.length > 0) return;
        lastError = 'describeCluster returned no brokers';
      } catch (err) {
        lastError = (err as Error).message;
      } finally {
        await admin.disconnect().catch(() => {});
      }
    }
    await sleep(250);
  }
  throw new Error(`not ready after ${START_TIMEOUT_MS / 1000}s (last error: ${lastError})`);
}

/**
 * The group and producer-id coordinators load lazily: on a new broker the first consumer group or
 * idempotent producer meets "coordinator is loading" / "not the correct coordinator" errors, which
 * kafkajs logs at ERROR level and, for some admin calls, does not retry. Going through that here,
 * quietly and until it succeeds, keeps it out of the tests' output, timing and results.
 */
async function warmUpCoordinators(brokerAddress: string, deadline: number): Promise<void> {
  const kafka = new Kafka({ clientId: 'chainwatch-test-harness', brokers: [brokerAddress], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const steps: Array<[string, () => Promise<unknown>]> = [
    ['admin connect', () => admin.connect()],
    // Needs the group coordinator, which needs __consumer_offsets: this creates and loads it.
    ['fetch offsets of a consumer group', () => admin.fetchOffsets({ groupId: 'chainwatch-test-harness-warm-up' })],
    // An idempotent producer gets its producer id on connect.
    ['idempotent producer connect', () => producer.connect()],
  ];
  try {
    for (const [name, step] of steps) {
      for (;;) {
        try {
          await step();
          break;
        } catch (err) {
          if (Date.now() > deadline) throw new Error(`${name} kept failing: ${(err as Error).message}`);
          await sleep(250);
        }
      }
    }
  } finally {
    await producer.disconnect().catch(() => {});
    await admin.disconnect().catch(() => {});
  }
}

function portIsOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    socket.setTimeout(1_000);
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

/** Binds n listeners on port 0 at once (so the ports differ), notes their ports, closes them. */
async function freeLoopbackPorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, HOST, () => resolve());
      });
    }
    return servers.map((server) => (server.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }
}

async function fileTail(file: string, lines: number): Promise<string> {
  try {
    return tail(await fs.readFile(file, 'utf8'), lines);
  } catch {
    return '(no output)';
  }
}

function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
