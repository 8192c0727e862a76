export { REPO_ROOT, STATE_DIR } from './paths.ts'
export { stackDown, stackStatus, stackUp } from './stack.ts'
export { bundle } from './bundle.ts'
export { NODE_FLAGS } from './node-flags.ts'
