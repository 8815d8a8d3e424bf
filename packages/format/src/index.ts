export { isPxarError, PXAR_ERROR_CODES, PxarError, type PxarErrorCode, PxarFormatError } from './errors.ts'
