import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    // One real Kafka broker for the whole run (or the one named by KAFKA_BROKERS); tests reach it
    // with inject('kafkaBrokers') and use topics of their own.
    globalSetup: ['test/harness/kafka-global-setup.ts'],
    // chdb binds one data directory per process: every test file runs in its own process.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 180_000,
  },
});
