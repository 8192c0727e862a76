// @ts-check
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', '**/.bench-build/**', '.tributary/**', '.tap/**', 'drizzle/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', performance: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly' } },
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Each app reads its environment in one validated place (config.ts).
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Read configuration through the app config (config.ts), which validates it.' }],
      'no-control-regex': 'off',
    },
  },
  {
    // Tooling, tests and the local-stack scripts may read the environment directly.
    files: ['infra/**', 'packages/servers/**', 'packages/chaos/**', '**/test/**', 'bench/**', 'drizzle.config.ts', 'eslint.config.js'],
    rules: { 'no-restricted-properties': 'off' },
  },
)
