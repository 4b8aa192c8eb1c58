// Opens a server item through the ASMX proxy that Mono's `wsdl` tool generates from
// Holdpoint's own WSDL (compiled beside it by tests/wcf_interop.rs) and prints every data
// field as `name nil=… value=…`, so the test can see that a null field keeps its name.
//
// Usage: NullFields.exe URL USER PASSWORD SERIAL
using System;
using System.Net;

static class NullFields
{
    static int Main(string[] args)
    {
        var service = new ServerItemService();
        service.Url = args[0];
        service.Credentials = new NetworkCredential(args[1], args[2]);
        ServerItem item = service.OpenServerItem(args[3]);
        foreach (Field field in item.fields)
        {
            Console.WriteLine("{0} nil={1} value={2}", field.name,
                field.nilSpecified && field.nil, field.Value == null ? "<null>" : field.Value);
        }
        return 0;
    }
}
