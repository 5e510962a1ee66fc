namespace GlueFineTune.Cli;

/// <summary>A bad command line: an unknown option, a missing or malformed value. The program prints it and exits with code 2.</summary>
internal sealed class UsageException : Exception
{
    /// <summary>The exit code of a usage error.</summary>
    public const int ExitCode = 2;

    /// <summary>Builds the exception.</summary>
    public UsageException()
    {
    }

    /// <summary>Builds the exception.</summary>
    /// <param name="message">What is wrong and how to fix it.</param>
    public UsageException(string message)
        : base(message)
    {
    }

    /// <summary>Builds the exception.</summary>
    /// <param name="message">What is wrong and how to fix it.</param>
    /// <param name="innerException">The cause.</param>
    public UsageException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
