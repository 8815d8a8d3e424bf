export { type CaseResult, listPbsCases, listPxarCases, pbsCaseName, runPbsCase, runPxarCase } from './run.ts'
export { CheckFailure, type PbsCase, type PxarCase, type PxarVariant } from './types.ts'
