using System.Text;

namespace GlueFineTune.Demo;

/// <summary>A writer that indents every line it passes on (the demo nests the training log under its steps).</summary>
internal sealed class IndentedWriter : TextWriter
{
    private readonly TextWriter inner;
    private readonly string indent;
    private bool atLineStart = true;

    /// <summary>Wraps <paramref name="inner"/>.</summary>
    /// <param name="inner">The writer to pass lines to.</param>
    /// <param name="indent">The prefix of every line.</param>
    public IndentedWriter(TextWriter inner, string indent)
    {
        this.inner = inner;
        this.indent = indent;
    }

    /// <inheritdoc />
    public override Encoding Encoding => inner.Encoding;

    /// <inheritdoc />
    public override void Write(char value)
    {
        if (atLineStart && value != '\n')
        {
            inner.Write(indent);
        }

        inner.Write(value);
        atLineStart = value == '\n';
    }

    /// <inheritdoc />
    public override void Write(string? value)
    {
        foreach (char c in value ?? string.Empty)
        {
            Write(c);
        }
    }

    /// <inheritdoc />
    public override void Flush() => inner.Flush();
}
