// The package consumer (eng/package-consumer-test.sh): runs the checks named on the command line, each a public
// static method of Checks (one file per package under Checks/) that throws on failure and returns what it measured.
// Prints "consumer check <name>: ok (<what it measured>)" per check, which the script looks for; exit 1 on a failure.
using System.Reflection;

var failed = 0;
foreach (var name in args)
{
    var check = typeof(Checks).GetMethod(name, BindingFlags.Public | BindingFlags.Static)
        ?? throw new ArgumentException($"no check '{name}' (a public static method of Checks in Checks/*.cs)");
    try
    {
        Console.WriteLine($"consumer check {name}: ok ({check.Invoke(null, null)})");
    }
    catch (TargetInvocationException e) when (e.InnerException is not null)
    {
        failed++;
        var cause = e.InnerException.GetBaseException();  // e.g. the NotSupportedException inside TorchSharp's TypeInitializationException
        Console.WriteLine($"consumer check {name}: FAILED: {cause.GetType().FullName}: {cause.Message.Split('\n')[0]}");
        Console.Error.WriteLine(e.InnerException);
    }
}

return failed == 0 ? 0 : 1;

/// <summary>The checks; each package under test adds its own file (Checks/&lt;Package&gt;.cs).</summary>
internal static partial class Checks
{
}
