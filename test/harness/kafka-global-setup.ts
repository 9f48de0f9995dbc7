/**
 * Vitest globalSetup: one Kafka broker for the whole test run.
 *
 * Starts the broker once (or takes the ones named by KAFKA_BROKERS, see kafka-broker.ts), provides
 * its bootstrap addresses to every test file as inject('kafkaBrokers'), and stops it in teardown.
 * Tests share the broker, so each one uses topics and consumer groups with names of its own.
 */
import type { TestProject } from 'vitest/node';
import { startKafkaBroker } from './kafka-broker.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string[];
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const broker = await startKafkaBroker();
  project.provide('kafkaBrokers', broker.brokers);
  return () => broker.stop();
}
