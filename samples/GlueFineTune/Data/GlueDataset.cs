namespace GlueFineTune.Data;

/// <summary>The examples of one GLUE file.</summary>
/// <param name="Task">The task.</param>
/// <param name="Source">The file the examples came from.</param>
/// <param name="Examples">The examples, in file order.</param>
/// <param name="SkippedRows">Malformed rows left out (only when reading with <c>skipMalformedRows</c>); each names its line.</param>
internal sealed record GlueDataset(
    GlueTask Task,
    string Source,
    IReadOnlyList<GlueExample> Examples,
    IReadOnlyList<GlueFormatException> SkippedRows);
