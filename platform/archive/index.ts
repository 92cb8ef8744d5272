// Archives and link chains, shared by the controller (uploads), the stager (packages) and the DEA
// (droplets): this folder imports nothing of the platform, so every component may import it.
export { LinkEscapeError, resolveLinkChain } from './link-chain';
export {
  DEFAULT_MAX_ZIP_ENTRIES, ZipArchive, ZipEntryLimitError, ZipFormatError, type ZipEntry, type ZipOpenOptions,
} from './zip-reader';
