// The stager: the one public entry of platform/stager.
export { startStager, type Stager, type StagerOptions } from './stager';
export { detectFramework, type Detection, type DetectedFramework } from './detect';
export { StagingErrorCodes } from './errors';
