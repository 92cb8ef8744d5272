// The stager: the one public entry of platform/stager.
export { startStager, type Stager, type StagerOptions } from './stager';
export { detectFramework, Frameworks, type Detection, type Framework } from './detect';
export { StagingErrorCodes } from './errors';
