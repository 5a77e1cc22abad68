/**
 * Lint: ESLint's recommended rules and typescript-eslint's type-checked recommended set on every TypeScript file, so
 * a promise nobody handles, a promise passed where a callback's result is ignored, and unused code are findings.
 * `void p` stays allowed (no-floating-promises' default): it marks a promise that cannot reject, and the code
 * guarantees that where it is written. Tests, benchmarks and the demo read raw broker frames (`any` from JSON.parse)
 * and implement async interfaces with plain values, so the rules about `any`, `await` and stringifying are off there.
 */
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['out/', 'dist/', 'node_modules/', '.e2e/', 'bench-results/', '**/*.js', '**/*.cjs', '**/*.mjs'] },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
      // Matching control characters is the point of the code that cleans untrusted text (views/shared/untrusted.ts).
      'no-control-regex': 'off',
      // A `let` read by a closure before its one assignment (a shutdown handler registered before the server starts).
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'demo/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/require-await': 'off',
      // The broker model turns whatever a hello carried into its signed strings the way the real broker does, and
      // tests quote raw values in their messages.
      '@typescript-eslint/no-base-to-string': 'off',
      '@typescript-eslint/restrict-template-expressions': 'off',
      // The fake vscode module hooks require, and the bench and the e2e suite load the built bundle.
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
);
