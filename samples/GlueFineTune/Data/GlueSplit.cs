namespace GlueFineTune.Data;

/// <summary>The GLUE splits that carry labels.</summary>
internal enum GlueSplit
{
    /// <summary><c>train.tsv</c>.</summary>
    Train,

    /// <summary><c>dev.tsv</c> (MNLI: <c>dev_matched.tsv</c>).</summary>
    Dev,
}
