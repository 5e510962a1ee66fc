namespace VectorFit.Serialization;

/// <summary>
/// Writes a file all-or-nothing: the content goes to a temporary file in the same folder, which is flushed
/// to disk and then renamed over the target, so a crash or an error leaves either the old file or the new
/// one, never half of one. The adapter and safetensors writers use it; so can an application for its own files
/// (metrics, reports), which then share the same clean-up of temporaries that killed writes left behind.
/// </summary>
/// <remarks>The temporary file is <c>.NAME.GUID.tmp</c> beside the target, held with <see cref="FileShare.None"/> while it is written.</remarks>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/>, atomically.</summary>
    /// <param name="path">The file to create or replace; its folder must exist.</param>
    /// <param name="write">Writes the whole content to the stream it is given (a temporary file, not yet the target).</param>
    /// <exception cref="ArgumentException"><paramref name="path"/> names a root folder, not a file.</exception>
    /// <exception cref="DirectoryNotFoundException">The folder of <paramref name="path"/> does not exist.</exception>
    /// <remarks>An exception from <paramref name="write"/> leaves the target as it was and removes the temporary file.</remarks>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(write);
        var full = System.IO.Path.GetFullPath(path);
        var folder = System.IO.Path.GetDirectoryName(full)
            ?? throw new ArgumentException($"'{path}' names no file (it is a root folder).", nameof(path));
        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"Cannot write '{full}': the folder '{folder}' does not exist. Create it first (Directory.CreateDirectory).");
        }

        RemoveStaleTemporaries(full);
        var temporary = System.IO.Path.Combine(folder, $".{System.IO.Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, full, overwrite: true);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    /// <summary>
    /// Removes the temporary files that killed writes of <paramref name="path"/> left behind (<c>.NAME.GUID.tmp</c>). A
    /// temporary file a live writer still holds (opened with <see cref="FileShare.None"/>, which locks it) is left alone.
    /// Best effort: errors are ignored. <see cref="Write"/> calls it before each write.
    /// </summary>
    /// <param name="path">The target file whose leftover temporaries to remove.</param>
    public static void RemoveStaleTemporaries(string path)
    {
        try
        {
            var full = System.IO.Path.GetFullPath(path);
            var folder = System.IO.Path.GetDirectoryName(full);
            var name = System.IO.Path.GetFileName(full);
            if (folder is null || name.Length == 0 || !Directory.Exists(folder))
            {
                return;
            }

            foreach (var candidate in Directory.EnumerateFiles(folder, $".{name}.*.tmp"))
            {
                var middle = System.IO.Path.GetFileName(candidate)[(name.Length + 2)..^4];
                if (middle.Length != 32 || !middle.All(Uri.IsHexDigit))
                {
                    continue;
                }

                try
                {
                    using var probe = new FileStream(candidate, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
                    File.Delete(candidate);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // In use by a live writer, or not ours to delete.
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            // Cleaning up is never worth failing the caller's save or load.
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Best effort: the original error matters more than a leftover temporary file.
        }
        catch (UnauthorizedAccessException)
        {
            // Same.
        }
    }
}
