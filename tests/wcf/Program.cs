// Entry point of the WCF (System.ServiceModel, as Mono ships it) clients that
// tests/wcf_interop.rs compiles once with mcs and runs against a real Holdpoint server.
// Each mode prints one line per check and ends with "all wcf checks passed"; the first
// failed check throws, which exits non-zero with the exception on stderr.

using System;

namespace Holdpoint.Interop
{
    public static class Program
    {
        public static int Main(string[] args)
        {
            if (args.Length < 1)
            {
                Console.Error.WriteLine("usage: holdpoint-wcf.exe sharepoint|server-items|sender-fault ARGS…");
                return 2;
            }
            var rest = new string[args.Length - 1];
            Array.Copy(args, 1, rest, 0, rest.Length);
            switch (args[0])
            {
                case "sharepoint":
                    SharePoint.Client.Run(rest);
                    break;
                case "server-items":
                    ServerItems.Client.Run(rest);
                    break;
                case "sender-fault":
                    ServerItems.Client.SenderFault(rest);
                    break;
                default:
                    Console.Error.WriteLine("unknown mode " + args[0]);
                    return 2;
            }
            Console.WriteLine("all wcf checks passed");
            return 0;
        }
    }

    public static class Check
    {
        public static void That(bool condition, string what)
        {
            if (!condition)
            {
                throw new Exception("check failed: " + what);
            }
        }

        public static void Ok(string what)
        {
            Console.WriteLine(what + ": ok");
        }
    }
}
